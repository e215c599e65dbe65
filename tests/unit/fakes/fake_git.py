"""Our git layer in memory: what the domain may rely on of RepoCache, with no git, no GitPython and no subprocess.

This is a specification of what the git layer promises, kept small enough to be obviously right:

- ``FakeClock``: time that passes only when a test (or a wait) says so; one clock stands for ``time.time`` and
  ``time.monotonic``. What happens meanwhile (another writer's push) is scheduled on it.
- ``FakeServer``: the remote: objects and refs. Another writer (or Concourse) commits there directly, and the
  test can have the next pushes lose their race.
- ``FakeMachine``: what the runs on one machine share: the cache's objects and branch, its lock, the last
  change announced, the views of the server's refs and the notes of its waiters (``kill_waiter`` ends one).
  Two FakeRepoCache on one FakeMachine are two runs on one machine.
- ``FakeRepoCache``: exactly the methods the domain calls, as RepoCache documents them. It records every call
  (``calls``: (method, whether the cache lock was held)) so that a test can say what was called where, and
  raises AssertionError when the caller breaks a rule of the real layer (fetch or push without ``exclusive()``,
  ``exclusive()`` taken twice, which deadlocks on a real flock, an object the cache does not have). The server
  counts the requests it serves (``requests``: ls-remote, fetch, push), as a real server's log does.

Objects are content-addressed like git's (a blob's sha is git's); trees and commits are hashed from their
contents, so equal trees share one sha as in git. History is linear: every commit has at most one parent.
"""

import collections
import contextlib
import hashlib
import heapq
import itertools
import re
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, PushRejectedError, RepositoryError
from ansible_collections.lockpool.git.plugins.module_utils._git_objects import CommitInfo, TreeEntry
from ansible_collections.lockpool.git.plugins.module_utils._machine import LOCAL_POLL, GoneWaiter
from ansible_collections.lockpool.git.plugins.module_utils._trees import TREE_MODE

FILE_MODE = 0o100644
START = 1800000000.0  # 2027-01-15T08:00:00Z: where a FakeClock starts
NETWORK = ('fetch', 'push', 'push_refs', 'remote_head', 'remote_refs', 'refresh')
FOREVER = 7 * 86400  # a wait without a deadline that lasts this long waits for something that never happens
ENDLESS = 20000  # a cache called this often, or a server pushed to this often, is in a loop that never ends

Blob = namedtuple('Blob', 'data')
Tree = namedtuple('Tree', 'entries')
Commit = namedtuple('Commit', 'tree parent message author time')
FakeRemote = namedtuple('FakeRemote', 'branch display_url')


class UnknownObject(AssertionError):
    """The caller asked for an object this side does not have: a sha of another side, or of a cache since rebuilt."""


class FakeClock(object):
    """Seconds that pass only when ``advance`` is called; ``call_at`` schedules what happens meanwhile."""

    def __init__(self, now=START):
        self.now = float(now)
        self._events = []
        self._order = itertools.count()

    def __call__(self):
        return self.now

    def call_at(self, when, action):
        heapq.heappush(self._events, (when, next(self._order), action))

    def call_after(self, delay, action):
        self.call_at(self.now + delay, action)

    def next_event(self):
        return self._events[0][0] if self._events else None

    def advance(self, seconds):
        self.advance_to(self.now + seconds)

    def advance_to(self, when):
        """Let time pass until ``when``, doing what was scheduled before it, each at its time."""
        while self._events and self._events[0][0] <= when:
            at, _order, action = heapq.heappop(self._events)
            self.now = max(self.now, at)
            action()
        self.now = max(self.now, when)


def _within(path, pathspecs):
    """Whether ``path`` is one of ``pathspecs``, or under one of them (git's pathspec without magic)."""
    return any(path == spec or path.startswith(spec.rstrip('/') + '/') for spec in pathspecs)


def _matches(pattern, message):
    """``git log -E --grep``: the extended regular expression matches one line of the message."""
    return any(re.search(pattern, line) for line in message.split('\n'))


class Objects(object):
    """One side's object database: blobs, trees and commits by sha, and the history they make."""

    def __init__(self):
        self.by_sha = {}

    def _put(self, obj, hashed):
        sha = hashlib.sha1(hashed).hexdigest()
        self.by_sha[sha] = obj
        return sha

    def get(self, sha, kind):
        obj = self.by_sha.get(sha)
        if not isinstance(obj, kind):
            raise UnknownObject('no %s %s here' % (kind.__name__.lower(), sha))
        return obj

    def store_blob(self, data):
        assert isinstance(data, bytes), 'a blob holds bytes, not %r' % (data,)
        return self._put(Blob(data), b'blob %d\0' % len(data) + data)

    def _store_tree(self, files):
        """The tree of ``files`` ({path relative to it: (mode, sha)}): a directory is there only if a file is under it."""
        here, below = {}, {}
        for path, entry in files.items():
            name, _slash, rest = path.partition('/')
            if rest:
                below.setdefault(name, {})[rest] = entry
            else:
                here[name] = entry
        assert not set(here) & set(below), 'a file and a directory of one name: %s' % sorted(set(here) & set(below))
        entries = [TreeEntry(mode, name, sha) for name, (mode, sha) in here.items()]
        entries += [TreeEntry(TREE_MODE, name, self._store_tree(inner)) for name, inner in below.items()]
        entries.sort(key=lambda entry: entry.name + '/' if entry.mode == TREE_MODE else entry.name)  # git's order
        entries = tuple(entries)
        return self._put(Tree(entries), repr(('tree', entries)).encode('utf-8', 'surrogateescape'))

    def store_commit(self, base, files, message, author, when):
        tree = self._store_tree(files)
        commit = Commit(tree, base, message, author, int(when))
        return self._put(commit, repr(('commit',) + tuple(commit)).encode('utf-8', 'surrogateescape'))

    def files(self, commit):
        """{path: (mode, blob sha)} of every file of ``commit`` (None: no commit, no file)."""
        found = {}
        if commit is None:
            return found

        def walk(tree, prefix):
            for entry in self.get(tree, Tree).entries:
                if entry.mode == TREE_MODE:
                    walk(entry.sha, prefix + entry.name + '/')
                else:
                    found[prefix + entry.name] = (entry.mode, entry.sha)
        walk(self.get(commit, Commit).tree, '')
        return found

    def write_commit(self, base, changes, message, author, when):
        """A commit on top of ``base`` (None: a root commit) with ``changes`` ({path: (mode, blob sha), or None to delete})."""
        files = self.files(base)
        for path, entry in changes.items():
            if entry is None:
                files.pop(path, None)
            else:
                mode, sha = entry
                self.get(sha, Blob)
                files[path] = (mode, sha)
        return self.store_commit(base, files, message, author, when)

    def changes(self, sha):
        """(status, path) of each file the commit ``sha`` changed from its parent, in path order: 'A', 'D' or 'M'."""
        before, after = self.files(self.get(sha, Commit).parent), self.files(sha)
        found = [('A' if path not in before else 'D' if path not in after else 'M', path)
                 for path in set(before) | set(after) if before.get(path) != after.get(path)]
        return sorted(found, key=lambda change: change[1])

    def ancestry(self, sha):
        """``sha`` and its ancestors, newest first."""
        while sha is not None:
            yield sha
            sha = self.get(sha, Commit).parent

    def walk(self, revision):
        """The commits ``git log <revision>`` lists for ``head`` or ``a..b``, newest first."""
        assert revision and '...' not in revision, 'only <head> and <a>..<b> are specified, not %r' % (revision,)
        start, dots, end = revision.partition('..')
        if not dots:
            start, end = None, revision
        stop = set(self.ancestry(start)) if start else set()
        for sha in self.ancestry(end):
            if sha in stop:
                return
            yield sha

    def info(self, sha, changes):
        commit = self.get(sha, Commit)
        return CommitInfo(sha, commit.time, commit.author, commit.message, tuple(changes))


class FakeServer(object):
    """The lock repository on the server: its objects and refs (``refs``: {ref name: sha})."""

    def __init__(self, clock, branch='master'):
        self.clock = clock
        self.branch = branch
        self.objects = Objects()
        self.refs = {}
        self.refused_prefixes = []  # refs under these are refused (a server that does not take the fair queue's refs)
        self.pushes_received = 0
        self.pushes_landed = 0
        self.requests = collections.Counter()  # what the server served: 'ls-remote', 'fetch', 'push'
        self._before_push = []
        self._lose_every_push = False

    @property
    def branch_ref(self):
        return 'refs/heads/' + self.branch

    @property
    def head(self):
        return self.refs.get(self.branch_ref)

    # -- what other writers do ------------------------------------------------------

    def commit(self, files, message, author='another writer'):
        """Another writer's commit on the branch: ``files`` {path: bytes, or None to delete}; returns its sha."""
        changes = dict((path, None if data is None else (FILE_MODE, self.objects.store_blob(data))) for path, data in files.items())
        sha = self.objects.write_commit(self.head, changes, message, author, self.clock())
        self.refs[self.branch_ref] = sha
        return sha

    def move(self, source, target, message, author='another writer'):
        """Another writer's commit that moves the file ``source`` to ``target``, blob and mode kept."""
        entry = self.objects.files(self.head)[source]
        sha = self.objects.write_commit(self.head, {source: None, target: entry}, message, author, self.clock())
        self.refs[self.branch_ref] = sha
        return sha

    def concourse_claim(self, pool, name, build=None):
        """Concourse's claim: subject ``claiming: X``, or ``<team>/<pipeline>/<job> build <n> claiming: X``; no trailers."""
        return self.move('%s/unclaimed/%s' % (pool, name), '%s/claimed/%s' % (pool, name),
                         '%sclaiming: %s\n' % (build + ' ' if build else '', name), author='concourse')

    def concourse_release(self, pool, name, build=None):
        return self.move('%s/claimed/%s' % (pool, name), '%s/unclaimed/%s' % (pool, name),
                         '%sunclaiming: %s\n' % (build + ' ' if build else '', name), author='concourse')

    def before_next_push(self, action):
        """Do ``action()`` on the server just before the next push arrives (another writer gets in first)."""
        self._before_push.append(action)

    def lose_next_push(self, times=1):
        """The next ``times`` pushes lose their race: another writer's commit (changing no file) lands first."""
        for _time in range(times):
            self.before_next_push(lambda: self.commit({}, 'another writer was faster\n'))

    def lose_every_push(self):
        self._lose_every_push = True

    # -- reading it, for assertions -------------------------------------------------

    def files(self):
        """{path: bytes} of every file on the branch."""
        return dict((path, self.objects.get(sha, Blob).data) for path, (_mode, sha) in self.objects.files(self.head).items())

    def message(self, sha=None):
        return self.objects.get(sha or self.head, Commit).message

    def log(self):
        """The messages of the branch's commits, newest first."""
        return [self.objects.get(sha, Commit).message for sha in self.objects.ancestry(self.head)]

    # -- what a push does -----------------------------------------------------------

    def _refuses(self, ref):
        return any(ref.startswith(prefix) for prefix in self.refused_prefixes)

    def _update_refs(self, objects, refspecs):
        for refspec in refspecs:
            source, _colon, ref = refspec.partition(':')
            if not source:
                self.refs.pop(ref, None)
                continue
            if source not in objects.by_sha:
                raise RepositoryError('src refspec %s does not match any' % source)
            self.objects.by_sha.update(objects.by_sha)
            self.refs[ref] = source

    def receive_push(self, objects, sha, also):
        """The branch moves to ``sha`` (with ``also`` refspecs, atomically) if it is a fast-forward; False otherwise."""
        self.pushes_received += 1
        if self.pushes_received > ENDLESS // 20:
            raise AssertionError('the run never ends: %d pushes' % self.pushes_received)
        if self._before_push:
            self._before_push.pop(0)()
        elif self._lose_every_push:
            self.commit({}, 'another writer was faster\n')
        objects.get(sha, Commit)
        if self.head is not None and self.head not in set(objects.ancestry(sha)):
            return False  # not a fast-forward: another push won the race
        refused = [refspec for refspec in also if self._refuses(refspec.partition(':')[2])]
        if refused:
            raise PushRejectedError('the lock repository refused the push: %s' % refused[0])
        unknown = [refspec for refspec in also if refspec.partition(':')[0] and refspec.partition(':')[0] not in objects.by_sha]
        if unknown:  # refused before anything moves: the push is atomic
            raise RepositoryError('src refspec %s does not match any' % unknown[0])
        self.objects.by_sha.update(objects.by_sha)
        self.refs[self.branch_ref] = sha
        self._update_refs(objects, also)
        self.pushes_landed += 1
        return True

    def receive_refs(self, objects, refspecs, atomic):
        taken = [refspec for refspec in refspecs if not self._refuses(refspec.partition(':')[2])]
        if len(taken) < len(refspecs) and atomic:
            return False
        self._update_refs(objects, taken)
        return len(taken) == len(refspecs)


class FakeMachine(object):
    """What the runs on one machine share: the cache's objects and branch head, its lock, the last announcement."""

    def __init__(self):
        self.objects = Objects()
        self.head = None
        self.held = False
        self.announcement = None
        self.views = {}  # {patterns: (read at, the announcement then, {ref: sha})}: the shared views of the server's refs
        self.waiters = {}  # {ticket id: {'alive', 'noted_at', 'freed'}}: the notes of the runs waiting here

    def kill_waiter(self, ticket_id):
        """The process of the waiter with ``ticket_id`` ends without leaving the queue (SIGKILL)."""
        self.waiters[ticket_id]['alive'] = False


class FakeRepoCache(object):
    """RepoCache in memory, on ``server``, for a run on ``machine`` (a new machine when not given)."""

    def __init__(self, server, machine=None, display_url='https://git.example.com/locks.git'):
        self.server = server
        self.clock = server.clock
        self.machine = machine or FakeMachine()
        self.remote = FakeRemote(server.branch, display_url)
        self.deadline = None
        self.calls = []
        self.rebuilds = 0
        self.watched = None
        self._damage = {}

    # -- hooks for tests ------------------------------------------------------------

    def damage(self, method, times=1):
        """The next ``times`` calls of ``method`` raise CacheDamagedError, as git reading a damaged cache does."""
        self._damage[method] = times

    def count(self, method):
        return sum(1 for name, _held in self.calls if name == method)

    def called_while_held(self):
        """The methods called while the cache lock was held, in order."""
        return [name for name, held in self.calls if held]

    def network_calls(self):
        return [name for name, _held in self.calls if name in NETWORK]

    def _call(self, method):
        self.calls.append((method, self.machine.held))
        if len(self.calls) > ENDLESS:
            raise AssertionError('the run never ends: %d calls of the git layer, the last ones %s' % (len(self.calls), self.calls[-5:]))
        if self._damage.get(method):
            self._damage[method] -= 1
            raise CacheDamagedError('the cache is damaged (%s, made so by the test)' % method)

    def _require_lock(self, method):
        if not self.machine.held:
            raise AssertionError('%s() without exclusive(): the real cache requires its lock' % method)

    @property
    def _objects(self):
        return self.machine.objects

    # -- the cache's objects --------------------------------------------------------

    def root_tree(self, commit):
        self._call('root_tree')
        return self._objects.get(commit, Commit).tree if commit is not None else None

    def tree_entries(self, tree):
        self._call('tree_entries')
        return list(self._objects.get(tree, Tree).entries)

    def read_blob(self, sha):
        self._call('read_blob')
        return self._objects.get(sha, Blob).data

    def read_blobs(self, shas):
        self._call('read_blobs')
        return dict((sha, self._objects.get(sha, Blob).data) for sha in shas)

    def store_blob(self, data):
        self._call('store_blob')
        return self._objects.store_blob(data)

    def write_commit(self, base, changes, message, author):
        self._call('write_commit')
        return self._objects.write_commit(base, changes, message, author, self.clock())

    def commit_info(self, sha, changes):
        self._call('commit_info')
        return self._objects.info(sha, changes)

    def added_by(self, head, path):
        self._call('added_by')
        return next(iter(self._history(head, [path], True)), None)

    def newest_commit(self, revisions, paths=(), pattern=None):
        self._call('newest_commit')
        return self._newest(revisions, paths, pattern)

    def _newest(self, revisions, paths, pattern):
        """As RepoCache: with no ``changes`` (they are known only to history())."""
        assert len(revisions) == 1, 'one revision, not %r' % (revisions,)
        for sha in self._objects.walk(revisions[0]):
            if paths and not any(_within(path, paths) for _status, path in self._objects.changes(sha)):
                continue
            if pattern is not None and not _matches(pattern, self._objects.get(sha, Commit).message):
                continue
            return self._objects.info(sha, ())
        return None

    def matching(self, revisions, pattern):
        """As RepoCache's: the commits of one revision whose message matches ``pattern``, newest first, with their changes."""
        self._call('matching')
        assert len(revisions) == 1, 'one revision, not %r' % (revisions,)
        return (self._objects.info(sha, self._objects.changes(sha)) for sha in self._objects.walk(revisions[0])
                if _matches(pattern, self._objects.get(sha, Commit).message))

    def commit_order(self, revisions):
        """As RepoCache's: the shas of one revision's commits, newest first."""
        self._call('commit_order')
        assert len(revisions) == 1, 'one revision, not %r' % (revisions,)
        return list(self._objects.walk(revisions[0]))

    def history(self, head, paths=(), added_only=False):
        """A generator, as RepoCache's: the commits that changed ``paths``, with those changes (only the adds when
        ``added_only``), newest first."""
        self._call('history')
        return self._history(head, tuple(paths), added_only)

    def _history(self, head, paths, added_only):
        for sha in self._objects.walk(head):
            shown = [change for change in self._objects.changes(sha) if not paths or _within(change[1], paths)]
            if added_only:
                shown = [change for change in shown if change[0] == 'A']
            if shown or not (paths or added_only):
                yield self._objects.info(sha, shown)

    def local_head(self):
        self._call('local_head')
        return self.machine.head

    # -- the server -----------------------------------------------------------------

    def fetch(self):
        self._call('fetch')
        self._require_lock('fetch')
        self.server.requests['fetch'] += 1
        if self.server.head is None:
            if any(ref.startswith('refs/heads/') for ref in self.server.refs):
                raise RepositoryError("branch '%s' does not exist in lock repository %s" % (self.remote.branch, self.remote.display_url))
            return None
        self._objects.by_sha.update(self.server.objects.by_sha)
        self.machine.head = self.server.head
        return self.machine.head

    def push(self, sha, also=()):
        self._call('push')
        self._require_lock('push')
        self.server.requests['push'] += 1
        if not self.server.receive_push(self._objects, sha, list(also)):
            return False
        self.machine.head = sha
        self.machine.announcement = sha
        return True

    def push_refs(self, refspecs, atomic=True):
        self._call('push_refs')
        self.server.requests['push'] += 1
        return self.server.receive_refs(self._objects, list(refspecs), atomic)

    def remote_head(self, max_age=None):
        """As RepoCache's: with ``max_age``, from the machine's view of the branch and the watched refs."""
        self._call('remote_head')
        return self._view(self.watched, max_age).get(self.server.branch_ref)

    def remote_refs(self, prefix, max_age=None):
        """As RepoCache's: with ``max_age``, from the machine's view (of the watched refs, for a prefix under them)."""
        self._call('remote_refs')
        if max_age is not None and self.watched is not None and prefix.startswith(self.watched):
            refs = self._view(self.watched, max_age)
        else:
            refs = self._view(prefix, max_age)
        return dict((ref, sha) for ref, sha in refs.items() if ref.startswith(prefix))

    def watch(self, prefix):
        self._call('watch')
        self.watched = prefix

    def _view(self, prefix, max_age, ask=True):
        """The server's branch and refs under ``prefix`` (one ls-remote), or the machine's view of them when a run on
        it read them less than ``max_age`` ago and nothing was announced since; a stale view is None unless ``ask``."""
        patterns = (self.server.branch_ref, prefix)
        seen = self.machine.views.get(patterns)
        if max_age is not None and seen is not None and seen[1] == self.machine.announcement and 0 <= self.clock() - seen[0] < max_age:
            return seen[2]
        if not ask:
            return None
        self.server.requests['ls-remote'] += 1
        refs = dict((ref, sha) for ref, sha in self.server.refs.items()
                    if ref == self.server.branch_ref or prefix is not None and ref.startswith(prefix))
        if max_age is not None:
            self.machine.views[patterns] = (self.clock(), self.machine.announcement, refs)
        return refs

    def refresh(self, max_age=None):
        self._call('refresh')
        remote = self.remote_head(max_age)
        if remote is None:
            raise RepositoryError("branch '%s' does not exist in lock repository %s" % (self.remote.branch, self.remote.display_url))
        if remote == self.local_head():
            return remote
        with self.exclusive():
            return self.fetch()

    # -- this machine ---------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self):
        self._call('exclusive')
        if self.machine.held:
            raise AssertionError('exclusive() while the cache lock is held: a real flock would deadlock here')
        self.machine.held = True
        try:
            yield
        finally:
            self.machine.held = False

    @contextlib.contextmanager
    def damage_guard(self):
        self._call('damage_guard')
        yield

    def rebuild(self):
        self._call('rebuild')
        self._require_lock('rebuild')
        self.rebuilds += 1
        self.machine.objects = Objects()
        self.machine.head = None

    def announced(self):
        self._call('announced')
        return self.machine.announcement

    # -- the runs waiting on this machine -------------------------------------------

    def note_waiter(self, ticket_id):
        self._call('note_waiter')
        self.machine.waiters[ticket_id] = dict(alive=True, noted_at=self.clock(), freed=False)

    def gone_waiters(self):
        self._call('gone_waiters')
        return [GoneWaiter(ticket_id, self.clock() - note['noted_at'], note['freed'])
                for ticket_id, note in sorted(self.machine.waiters.items()) if not note['alive']]

    def free_waiter(self, ticket_id):
        self._call('free_waiter')
        note = self.machine.waiters.get(ticket_id)
        if note is None or note['freed']:
            return False
        note['freed'] = True
        return True

    def forget_waiter(self, ticket_id):
        self._call('forget_waiter')
        self.machine.waiters.pop(ticket_id, None)

    def wait_for_change(self, known, poll_interval, deadline, since=None, sleep=None):
        """As RepoCache's, on the fake clock: True as soon as this machine announces a change after ``since``
        (default: the current announcement), or once a look at the server's branch through the machine's view (read
        again when it is ``poll_interval`` old, one interval after the start when none was read) shows it moved from
        ``known``: fetched then unless the cache holds it already. False at ``deadline`` (None: never), after a look at
        a view already read. ``sleep(0)`` is called at each step, as the real one sleeps between its looks (a
        Lifetime's sleep raises there once the task must stop)."""
        self._call('wait_for_change')
        since = self.machine.announcement if since is None else since
        started = self.clock()
        while True:
            if sleep is not None:
                sleep(0)
            if self.clock() - started > FOREVER:
                raise AssertionError('the test waits forever: nothing it waits for ever happens')
            seen = self.machine.views.get((self.server.branch_ref, self.watched))
            age = 0.0 if seen is None else self.clock() - seen[0]
            ask_server_at = self.clock() + max(poll_interval - age, LOCAL_POLL)
            if self._announced_before(since, ask_server_at if deadline is None else min(deadline, ask_server_at)):
                return True
            at_deadline = deadline is not None and self.clock() >= deadline
            self._call('look')
            view = self._view(self.watched, poll_interval, ask=not at_deadline)
            if view is not None and view.get(self.server.branch_ref) != known and self._follow(view.get(self.server.branch_ref)) != known:
                return True
            if at_deadline:
                return False

    def _follow(self, head):
        with self.exclusive():
            return self.local_head() if self.local_head() == head else self.fetch()

    def _announced_before(self, since, until):
        """True once an announcement other than ``since`` is made, False at ``until``; time passes to each scheduled event."""
        while self.machine.announcement == since:
            if self.clock() >= until:
                return False
            next_event = self.clock.next_event()
            self.clock.advance_to(until if next_event is None else min(until, next_event))
        return True

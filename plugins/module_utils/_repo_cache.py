# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cache of a lock repository, where the git layer comes together.

One bare repository per remote URL under the cache directory, shared by every
run on the machine. The git layer is this file and what it composes: running git
(_git_command), the repository's objects and refs as plain data (_git_objects), and
this machine's coordination (_machine). It imports nothing of the domain: it is
given plain data and callables, and returns plain data.

Fetching and pushing happen under the machine's file lock, so two runs on one
machine never update the cache's refs at once. Fetch updates only what is new, so
the cost of an operation does not grow with the repository's history.

The cache heals itself: it is created aside and renamed into place, leftovers of
killed runs are swept under the file lock, and a cache that git finds damaged
raises CacheDamagedError, on which the transaction rebuilds it (``rebuild``) and
tries once more. With a ``deadline`` set, no git command and no wait for the file
lock outlives it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import os
import random
import re
import shutil
import time

from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, PushOutcomeUnknownError, PushRejectedError, RepositoryError
from ansible_collections.lockpool.git.plugins.module_utils._git_command import NETWORK_TIMEOUT, GitRunner, shows_damage
from ansible_collections.lockpool.git.plugins.module_utils._git_objects import GITPYTHON_IMPORT_ERROR, HAS_GITPYTHON, GitObjects, init_bare
from ansible_collections.lockpool.git.plugins.module_utils._machine import LOCAL_POLL, MachineCoordination

# What the rest of the collection imports from here; plugins check HAS_GITPYTHON before they open a cache.
__all__ = ['GITPYTHON_IMPORT_ERROR', 'HAS_GITPYTHON', 'RepoCache', 'race_backoff']

# How long a push whose answer was lost may take to be settled (see RepoCache._settle), beyond the task's timeout:
# longer than most hooks take; a server that says nothing for this long leaves the outcome unknown.
SETTLE_TIMEOUT = 15
_FENCE_MESSAGE = ('lockpool: fence after a push that was not answered\n\n'
                  'This commit changes no file. It makes sure that a push whose answer was lost cannot land later.\n')
# A push failed this way may have reached the server, and may land (or have landed) all the same.
_ANSWER_LOST = re.compile(r'no answer within|remote end hung up|early eof|connection reset|broken pipe|timed out', re.IGNORECASE)
_RACE_REASONS = ('non-fast-forward', 'fetch first', 'cannot lock ref', 'failed to update ref',
                 'incorrect old value', 'stale info')


def _objects_method(name):
    """A RepoCache method that is GitObjects' method ``name`` on the open cache."""
    def method(self, *args, **kwargs):
        return getattr(self._objects, name)(*args, **kwargs)
    method.__name__ = name
    method.__doc__ = getattr(GitObjects, name).__doc__
    return method


class RepoCache(object):
    """A bare clone of one lock repository, kept between runs under ``cache_dir``.

    ``remote`` says where the repository is: ``url``, ``display_url`` (no secret in it), ``branch``,
    ``cache_dir``, ``env`` (git's environment) and ``scrub`` (hides secrets in a message).
    """

    def __init__(self, remote, network_timeout=NETWORK_TIMEOUT):
        self.remote = remote
        self.deadline = None  # time.monotonic() by which every git command must end; None: network_timeout each
        key = hashlib.sha256(remote.display_url.encode('utf-8')).hexdigest()[:24]
        self.path = os.path.join(remote.cache_dir, key + '.git')
        self._ref = 'refs/lockpool/heads/' + remote.branch
        self._git = GitRunner(self.path, remote.env, remote.display_url, remote.scrub, network_timeout)
        self._machine = MachineCoordination(self.path, remote.branch)
        self._objects = None
        self._watched = None  # the prefix of refs outside the branch that this run's looks at the server read along

    # -- set-up and healing ---------------------------------------------------------

    def open(self):
        """Create the cache if needed and make it ready (rebuilding one git cannot open); returns self."""
        try:
            os.makedirs(self.remote.cache_dir, mode=0o700, exist_ok=True)
            with self.exclusive():
                self._sweep_leftovers()
                if not os.path.isfile(os.path.join(self.path, 'HEAD')):
                    self._create()
                try:
                    self._load()
                except CacheDamagedError:
                    self.rebuild()
        except (IOError, OSError) as exc:
            raise RepositoryError('cannot use cache_dir %s: %s' % (self.remote.cache_dir, exc.strerror or exc))
        return self

    def rebuild(self):
        """Replace the cache with a fresh, empty one (the next fetch fills it). Caller holds exclusive()."""
        self.close()
        self._create()
        self._load()

    def _load(self):
        self._objects = GitObjects(self.path, self.remote.env, self._git)

    def _sweep_leftovers(self):
        """Remove what a run killed in _create left behind. Caller holds exclusive()."""
        for kind in ('new', 'old'):
            for leftover in glob.glob('%s.%s-*' % (glob.escape(self.path), kind)):
                shutil.rmtree(leftover, ignore_errors=True)

    def _create(self):
        """Make the bare repository aside and rename it into place, so a killed run never leaves half of one."""
        fresh = '%s.new-%d' % (self.path, os.getpid())
        init_bare(fresh)
        old = '%s.old-%d' % (self.path, os.getpid())
        if os.path.lexists(self.path):
            os.rename(self.path, old)
        os.rename(fresh, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def close(self):
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    def exclusive(self):
        """Hold the machine-wide lock on this cache (given up at the deadline)."""
        return self._machine.exclusive(self.deadline)

    # -- the cache's objects, as plain data (see _git_objects) ----------------------

    damage_guard = _objects_method('damage_guard')
    root_tree = _objects_method('root_tree')
    tree_entries = _objects_method('tree_entries')
    read_blob = _objects_method('read_blob')
    read_blobs = _objects_method('read_blobs')
    store_blob = _objects_method('store_blob')
    write_commit = _objects_method('write_commit')
    commit_info = _objects_method('commit_info')
    added_by = _objects_method('added_by')
    newest_commit = _objects_method('newest_commit')
    history = _objects_method('history')
    matching = _objects_method('matching')
    commit_order = _objects_method('commit_order')

    def local_head(self):
        """The branch's commit in the cache, or None; read in process (no git run), as waiters read it often."""
        return self._objects.read_ref(self._ref)

    # -- reading the remote ---------------------------------------------------------

    def _network(self, args):
        return self._git.network(args, self.deadline)

    def remote_head(self, max_age=None):
        """The branch's commit on the server (one cheap round trip), or None if absent.

        With ``max_age`` (seconds), the machine's view serves (``remote_refs``): it holds the branch and the watched refs.
        """
        ref = 'refs/heads/' + self.remote.branch
        if max_age is None:
            return self._ls_remote(ref).get(ref)
        return self._view(self._watched, max_age).get(ref)

    def remote_refs(self, prefix, max_age=None):
        """{ref name: sha} of the server's refs under ``prefix`` (one ls-remote round trip).

        With ``max_age`` (seconds), the machine's view of them serves when another run on this machine read it at most
        that long ago (and pushed nothing since): the many waiters here ask the server once, not each. That view holds
        the branch too, and a prefix under the watched one (``watch``) is read from the view of the watched refs.
        """
        if max_age is None:
            return self._read_remote_refs(prefix)
        watched = self._watched if self._watched is not None and prefix.startswith(self._watched) else prefix
        return dict((name, sha) for name, sha in self._view(watched, max_age).items() if name.startswith(prefix))

    def watch(self, prefix):
        """Every look of this run at the server's branch (``wait_for_change``) reads the refs under ``prefix`` along, in
        the same ls-remote, into the machine's view: a waiter's view of them costs the server nothing more."""
        self._watched = prefix

    def _view(self, prefix, max_age, ask=True):
        """The machine's view of the branch and the refs under ``prefix`` (None: the branch only), less than ``max_age``
        old; read from the server when it is older, unless not ``ask`` (then None)."""
        patterns = self._patterns(prefix)
        refs = self._machine.shared_view(patterns, max_age, (lambda: self._ls_remote(*patterns)) if ask else None, self.deadline)
        if refs is None:
            return None
        return dict((name, sha) for name, sha in refs.items() if name == patterns[0] or prefix is not None and name.startswith(prefix))

    def _patterns(self, prefix):
        return ('refs/heads/' + self.remote.branch,) + (() if prefix is None else (prefix + '*',))

    def _read_remote_refs(self, prefix):
        return dict((name, sha) for name, sha in self._ls_remote(prefix + '*').items() if name.startswith(prefix))

    def _ls_remote(self, *patterns):
        """{ref name: sha} of the server's refs that ``git ls-remote`` matches with any of ``patterns``."""
        status, out, err = self._network(['ls-remote', '--end-of-options', self.remote.url] + list(patterns))
        if status != 0:
            raise self._git.network_error('read', err)
        listed = (line.split('\t', 1) for line in out.splitlines() if '\t' in line)
        return dict((name, sha) for sha, name in listed)

    def fetch(self):
        """Bring the branch into the cache; returns its commit sha, or None when the repository is empty (it has
        no branch at all yet: the first commit pushed creates it). Caller holds exclusive()."""
        refspec = '+refs/heads/%s:%s' % (self.remote.branch, self._ref)
        status, _out, err = self._network(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--end-of-options', self.remote.url, refspec])
        if status != 0:
            if "couldn't find remote ref" in err:
                if self._is_empty():
                    return None
                raise self._missing_branch_error(empty=False)
            if shows_damage(err):
                raise self._git.damaged('git fetch', err)
            raise self._git.network_error('fetch', err)
        return self.local_head()

    def refresh(self, max_age=None):
        """For readers: the branch's commit, fetched only when the server's differs from the cache's.

        One ls-remote, or with ``max_age`` (seconds) the machine's view when it is younger (``remote_head``); the cache
        lock is taken only when there is something to fetch.
        """
        remote = self.remote_head(max_age)
        if remote is None:
            raise self._missing_branch_error()
        if remote == self.local_head():
            return remote
        with self.exclusive():
            return self.fetch()

    def _is_empty(self):
        """True when the server has no branch at all (a repository made with ``git init --bare``)."""
        return not self._read_remote_refs('refs/heads/')

    def _missing_branch_error(self, empty=None):
        """What to say of a branch the server does not have; ``empty``: whether it has no branch at all, when known."""
        if self._is_empty() if empty is None else empty:
            return RepositoryError("lock repository %s is empty (it has no branch '%s' yet): add a lock with "
                                   "lockpool.git.pool_lock state=present, which creates the branch and the pool"
                                   % (self.remote.display_url, self.remote.branch))
        return RepositoryError("branch '%s' does not exist in lock repository %s" % (self.remote.branch, self.remote.display_url))

    # -- writing the remote ---------------------------------------------------------

    def push(self, sha, also=()):
        """Push ``sha`` as the branch's new head. True when it landed, False when another push won the race.

        ``also`` are refspecs for refs outside the branch that land atomically with it, or not at all.
        Caller holds exclusive(). Any other refusal raises PushRejectedError. A push whose answer was lost
        is settled with the server (``_settle``): it counts as landed only when the branch holds it.
        """
        base = self.local_head()
        status, out, err = self._push_branch(sha, also)
        if status == 0:
            self._record_push(sha)
            return True
        reasons = [line.split('\t')[-1] for line in out.splitlines() if line.startswith('!')]
        said = ' '.join(line.strip() for line in err.splitlines() if line.startswith('remote:'))
        # An atomic push that lost the race is refused as a whole; the server says why on its remote: lines.
        if any(race in text for text in reasons + [said] for race in _RACE_REASONS):
            return False
        refused = [reason for reason in reasons if 'atomic' not in reason] or reasons
        if refused:
            raise PushRejectedError(self.remote.scrub(
                'the lock repository %s refused the push to %s: %s %s'
                % (self.remote.display_url, self.remote.branch, refused[0], said)).strip())
        if shows_damage(err):
            raise self._git.damaged('git push', err)
        if not _ANSWER_LOST.search(err):
            raise self._git.network_error('push to', err)
        if self._settle(sha, base, err):
            return True
        raise RepositoryError('%s; the server has not applied the push, and never will' % self._git.network_error('push to', err))

    def _push_branch(self, sha, also=()):
        target = 'refs/heads/' + self.remote.branch
        return self._network(['push', '--porcelain'] + (['--atomic'] if also else [])
                             + ['--end-of-options', self.remote.url, '%s:%s' % (sha, target)] + list(also))

    def _settle(self, sha, base, err):
        """Whether the push of ``sha`` (made on ``base``), whose answer never came, landed: the server is asked.

        A push lands only on the head it was made on (git checks the branch's old value as it updates it), so
        once the server's branch holds anything other than ``base``, the push has landed (the branch holds
        ``sha``) or never will. While it still holds ``base``, the push may still be on its way (a hook slower
        than our timeout): a fence, a commit on ``base`` that changes no file, ends the doubt, since of the two
        only the first to reach the branch can land. Settling has its own time (SETTLE_TIMEOUT), as the task's
        may be spent; a server that cannot say within it fails the run with PushOutcomeUnknownError.
        """
        task_deadline, self.deadline = self.deadline, time.monotonic() + SETTLE_TIMEOUT
        try:
            while time.monotonic() < self.deadline:
                head = self._head_or_none()
                if head is not None and head != base:
                    return self._landed_under(head, sha)
                fenced = None if head is None or base is None else self._fence(base)
                if fenced is not None:
                    # A refused fence went through what the push, made before it, went through: look once more.
                    return not fenced and self._landed_under(self._head_or_none(), sha, base)
                time.sleep(min(1, max(0, self.deadline - time.monotonic())))
        finally:
            self.deadline = task_deadline
        raise PushOutcomeUnknownError('%s; whether it landed is unknown: the server did not say within %ds (commit %s may still land)'
                                      % (self._git.network_error('push to', err), SETTLE_TIMEOUT, sha))

    def _head_or_none(self):
        try:
            return self.remote_head()
        except RepositoryError:
            return None

    def _landed_under(self, head, sha, base=None):
        """Whether the server's ``head`` holds ``sha`` (another push may have landed on top of it); the cache follows it.

        A ``head`` that is None (unknown) or ``base`` does not.
        """
        if head is None or head == base:
            return False
        if head == sha:
            self._record_push(sha)
            return True
        self.fetch()
        status, _out, _err = self._git.run(['merge-base', '--is-ancestor', sha, head])
        if status == 0:
            self._machine.announce(head)
        return status == 0

    def _fence(self, base):
        """Push the fence on ``base``: True when it landed (what was pushed on ``base`` before it can no longer land),
        False when the server refused it, None when the branch moved meanwhile or the answer was lost again."""
        fence = self._objects.write_commit(base, {}, _FENCE_MESSAGE, 'lockpool.git')
        status, out, err = self._push_branch(fence)
        if status == 0:
            self._record_push(fence)
            return True
        refused = [line for line in out.splitlines() if line.startswith('!')]
        if refused and not any(race in line for line in refused for race in _RACE_REASONS):
            return False
        return None

    def _record_push(self, sha):
        """Make the pushed commit the cache's head and tell waiters here; best effort, never fails a landed push.

        A run killed meanwhile leaves the old head and a stale lock file, which exclusive() removes.
        """
        try:
            self._objects.set_ref(self._ref, sha)
            self._machine.announce(sha)
        except (IOError, OSError):
            pass

    def push_refs(self, refspecs, atomic=True):
        """Push ``refspecs`` (``sha:ref``, or ``:ref`` to delete) to refs outside the branch.

        True when the server took them (all of them when ``atomic``), False when it refused a ref.
        """
        status, out, err = self._network(['push', '--porcelain'] + (['--atomic'] if atomic else [])
                                         + ['--end-of-options', self.remote.url] + list(refspecs))
        if status == 0:
            return True
        if any(line.startswith('!') for line in out.splitlines()):
            return False
        if _ANSWER_LOST.search(err) and self._refs_as_pushed(refspecs):
            return True
        raise self._git.network_error('push to', err)

    def _refs_as_pushed(self, refspecs):
        """Whether the server's refs are as ``refspecs`` would set them (a push whose answer was lost landed)."""
        wanted = dict((spec.split(':', 1)[1], spec.split(':', 1)[0] or None) for spec in refspecs)
        try:
            found = self._ls_remote(*wanted)
        except RepositoryError:
            return False
        return all(found.get(ref) == sha for ref, sha in wanted.items())

    # -- the runs waiting on this machine ---------------------------------------------

    def note_waiter(self, ticket_id):
        """Note that this process waits in the fair queue with ``ticket_id`` (see gone_waiters)."""
        self._machine.note_waiter(ticket_id)

    def gone_waiters(self):
        """This machine's waiters that were killed before they left the queue: GoneWaiter(ticket_id, age, freed)."""
        return self._machine.gone_waiters()

    def free_waiter(self, ticket_id):
        """Mark a gone waiter's ticket as being deleted; True for the one run that marked it."""
        return self._machine.free_waiter(ticket_id)

    def forget_waiter(self, ticket_id):
        """Remove the note of ``ticket_id``."""
        self._machine.forget_waiter(ticket_id)

    # -- noticing change ------------------------------------------------------------

    def announced(self):
        """The last change announced on this machine; read it under exclusive() to wait from that state."""
        return self._machine.announced()

    def wait_for_change(self, known, poll_interval, deadline, since=None, clock=time.monotonic, sleep=time.sleep):
        """Wait until the cache holds the branch at another commit than ``known``, or ``deadline`` (monotonic, None =
        never) passes; True when it does, False at the deadline.

        A push made from this machine after the announcement ``since`` (default: the current one) is seen within
        LOCAL_POLL. The server's branch is looked at through the machine's view (with the watched refs), read again
        when it is ``poll_interval`` old: the runs waiting here share one ls-remote per interval, whoever reads it,
        and a wait that starts again keeps that pace. At the deadline only a view already read is looked at (no
        request). Once a look shows the branch moved, the first run to see it fetches it, under the cache lock, for
        all of them.
        """
        since = self.announced() if since is None else since
        while True:
            # The next look is due when the machine's view is poll_interval old (one interval from now, if none was read).
            age = self._machine.view_age(self._patterns(self._watched)) or 0.0
            ask_server_at = clock() + max(poll_interval - age, LOCAL_POLL)
            if self._machine.wait_for_announcement(since, ask_server_at if deadline is None else min(deadline, ask_server_at),
                                                   clock, sleep):
                return True
            at_deadline = deadline is not None and clock() >= deadline
            view = self._view(self._watched, poll_interval, ask=not at_deadline)  # at the deadline, only a view already read
            head = None if view is None else view.get('refs/heads/' + self.remote.branch)
            if view is not None and head != known and self._follow(head) != known:
                return True
            if at_deadline:
                return False

    def _follow(self, head):
        """The cache's branch once it holds the server's ``head``: fetched, unless another run here already did."""
        with self.exclusive():
            return self.local_head() if self.local_head() == head else self.fetch()


def race_backoff(attempt, sleep=time.sleep):
    """A short jittered pause after a lost push race, growing with the number of races lost."""
    sleep(random.uniform(0, min(0.05 * (2 ** min(attempt, 5)), 1.0)))

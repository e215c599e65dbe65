# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cache of a lock repository: the only code that runs git.

One bare repository per remote URL under the cache directory, shared by every
run on the machine. Commits are built in process, in the cache's object database
(no index, no work tree), and the cache's ref moves by renaming a lock file into
place, so a run killed at any point leaves nothing half-written behind; fetching
and pushing happen under a file lock, so two runs on one machine never update the
cache's refs at once. Fetch updates only what is new, so the cost of an operation
does not grow with the repository's history.

The cache heals itself: it is created aside and renamed into place, leftovers of
killed runs are swept under the file lock, and a cache that git finds damaged
raises CacheDamagedError, on which the transaction rebuilds it (``rebuild``) and
tries once more. With a ``deadline`` set, no git command and no wait for the file
lock outlives it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser
import contextlib
import errno
import fcntl
import glob
import hashlib
import io
import json
import os
import random
import re
import shutil
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    CacheDamagedError,
    InvalidInputError,
    LockTimeoutError,
    PushRejectedError,
    RepositoryError,
)
from ansible_collections.lockpool.git.plugins.module_utils._layout import Delete, Move, Write
from ansible_collections.lockpool.git.plugins.module_utils._trees import TREE_MODE, tree_data, tree_entries

try:
    import git
    from gitdb import IStream, LooseObjectDB
    from gitdb.exc import ODBError

    class _ObjectDatabase(git.GitCmdObjectDB):
        """GitPython's object database, but writing loose objects in process: its own runs git hash-object for each."""

        def store(self, istream):
            return LooseObjectDB.store(self, istream)

    HAS_GITPYTHON = True
    GITPYTHON_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules report it with missing_required_lib
    HAS_GITPYTHON = False
    GITPYTHON_IMPORT_ERROR = exc

NETWORK_TIMEOUT = 120
MIN_NETWORK_TIMEOUT = 1
TRANSIENT_RETRIES = 3
LOCAL_POLL = 0.025  # seconds between looks at this machine's announcements while waiting
_COMMITTER = ('lockpool', 'lockpool@localhost')
# What git trims from both ends of a name in a commit's author line (ident.c: crud).
_NAME_CRUD = ''.join(chr(code) for code in range(33)) + '.,:;<>"\\\''
_TRANSIENT = re.compile(
    r'connection (?:reset|refused|timed out)|early eof|remote end hung up|'
    r'unable to (?:connect|access)|could not resolve|temporary failure|timed out|broken pipe',
    re.IGNORECASE)
# What git's and ssh's complaints mean, said so that the user knows what to change.
_DIAGNOSES = (
    (re.compile(r'Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED'),
     "host key verification failed: the server's host key is not trusted; "
     'pass it in known_hosts, or set accept_new_host_keys to trust it on first use'),
    (re.compile(r'Permission denied \(publickey'),
     'permission denied (publickey): the server refused the private key '
     '(check private_key or private_key_file, and private_key_passphrase for a protected key)'),
    (re.compile(r'Authentication failed|HTTP Basic: Access denied|returned error: 40[13]'),
     'authentication failed: the server refused the username and password, or none was given'),
    (re.compile(r"Connection refused|Couldn't connect to server"),
     'connection refused: nothing answers at that address (is the server up?)'),
    (re.compile(r'Could not resolve host'), 'the host name does not resolve'),
    (re.compile(r'SSL certificate problem|certificate verif', re.IGNORECASE),
     "TLS certificate verification failed: trust the server's CA with git_config http.sslCAInfo, or set ssl_verify to false"),
    (re.compile(r'timed out|Timeout', re.IGNORECASE), 'the connection timed out'),
)
# What git says when the cache itself (not the server) is the problem.
_DAMAGE = re.compile(
    r'corrupt|bad object|unable to unpack|inflate:|object file .* is empty|not a git repository|cannot lock ref|'
    r'unable to read|did not send all necessary objects|pack-objects died|bad config',
    re.IGNORECASE)
_RACE_REASONS = ('non-fast-forward', 'fetch first', 'cannot lock ref', 'failed to update ref',
                 'incorrect old value', 'stale info')

_STATUS = re.compile(r'^[A-Z][0-9]*$')
# Paths handed to git are paths, never patterns: a lock named ``e*`` or a pool named ``:p`` means just that.
_GIT = ['git', '--literal-pathspecs']
_LOG_FORMAT = '--format=%H%x00%ct%x00%an%x00%B'

# One commit of a history walk; ``changes`` is a tuple of (status letter, path) as git diff --name-status says.
CommitInfo = namedtuple('CommitInfo', 'sha time author message changes')


_GENERIC_ADVICE = ('fatal: Could not read from remote repository.', 'Please make sure you have the correct access rights',
                   'and the repository exists.')


def _last_lines(text, count=3):
    """What git said went wrong: from its first ``fatal:``/``error:`` line on, without its generic advice."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith(('fatal:', 'error:')):
            lines = lines[index:]
            break
    specific = [line for line in lines if not line.startswith(_GENERIC_ADVICE)]
    return ' '.join((specific or lines)[:count])


def diagnose(stderr):
    """What a failed network git command's stderr means for the user, and the line that says so; None when unknown."""
    for pattern, meaning in _DIAGNOSES:
        for line in stderr.splitlines():
            if pattern.search(line):
                return '%s (%s)' % (meaning, line.strip())
    return None


class RepoCache(object):
    """A bare clone of one lock repository, kept between runs under ``cache_dir``."""

    def __init__(self, remote, network_timeout=NETWORK_TIMEOUT):
        self.remote = remote
        self.network_timeout = network_timeout
        self.deadline = None  # time.monotonic() by which every git command must end; None: network_timeout each
        key = hashlib.sha256(remote.display_url.encode('utf-8')).hexdigest()[:24]
        self.path = os.path.join(remote.cache_dir, key + '.git')
        self._lock_path = self.path + '.lock'
        self._head_path = os.path.join(remote.cache_dir, '%s.%s.head' % (key, hashlib.sha256(remote.branch.encode('utf-8')).hexdigest()[:12]))
        self._view_path = os.path.join(remote.cache_dir, key + '.refs-view')
        self._ref = 'refs/lockpool/heads/' + remote.branch
        self._repo = None

    # -- set-up ---------------------------------------------------------------------

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
                except (git.exc.GitError, configparser.Error):
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
        self._repo = git.Repo(self.path, odbt=_ObjectDatabase)
        self._repo.git.update_environment(**self.remote.env)

    def _sweep_leftovers(self):
        """Remove what a run killed in _create left behind. Caller holds exclusive()."""
        for kind in ('new', 'old'):
            for leftover in glob.glob('%s.%s-*' % (glob.escape(self.path), kind)):
                shutil.rmtree(leftover, ignore_errors=True)

    def _create(self):
        """Make the bare repository aside and rename it into place, so a killed run never leaves half of one."""
        fresh = '%s.new-%d' % (self.path, os.getpid())
        repo = git.Repo.init(fresh, bare=True, mkdir=True)
        with repo.config_writer() as config:
            config.set_value('core', 'logAllRefUpdates', 'false')
            config.set_value('gc', 'autoDetach', 'false')
        repo.close()
        old = '%s.old-%d' % (self.path, os.getpid())
        if os.path.lexists(self.path):
            os.rename(self.path, old)
        os.rename(fresh, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def close(self):
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the machine-wide lock on this cache."""
        with open(self._lock_path, 'a') as handle:
            self._lock(handle)
            try:
                self._remove_stale_ref_locks()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock(self, handle):
        if self.deadline is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
            return
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= self.deadline:
                raise LockTimeoutError('gave up waiting for the cache %s: another run on this machine kept it busy' % self.path)
            time.sleep(random.uniform(0.005, 0.02))

    @contextlib.contextmanager
    def damage_guard(self):
        """Report GitPython's failures to read the cache's objects as CacheDamagedError."""
        try:
            yield
        except (git.exc.GitError, ODBError, ValueError) as exc:
            raise CacheDamagedError(self.remote.scrub('cannot read the cache %s: %s' % (self.path, exc)))

    # -- running git ----------------------------------------------------------------

    def _run(self, args, timeout=None):
        """Run git; return (status, stdout, stderr) as text. Never raises on a git failure."""
        status, out, err = self._repo.git.execute(
            _GIT + list(args), with_extended_output=True, with_exceptions=False,
            kill_after_timeout=timeout or self.network_timeout)
        return status, out, err

    def _check(self, what, args):
        """Run a local git command; its failure means the cache is damaged (we made its input)."""
        status, out, err = self._run(args)
        if status != 0:
            raise self._damaged(what, err)
        return out

    def _damaged(self, what, err):
        return CacheDamagedError(self.remote.scrub('%s failed in the cache %s: %s' % (what, self.path, _last_lines(err))))

    def _time_left(self):
        """How long the next network command may run: network_timeout, cut to the deadline (at least a second)."""
        if self.deadline is None:
            return self.network_timeout
        return max(MIN_NETWORK_TIMEOUT, min(self.network_timeout, self.deadline - time.monotonic()))

    def _network(self, what, args):
        """Run a git command that talks to the server, retrying transient failures while time is left.

        ``args`` put --end-of-options before the URL: a URL such as ``--upload-pack=<command>`` must never be an option.
        """
        for attempt in range(TRANSIENT_RETRIES):
            timeout = self._time_left()
            started = time.monotonic()
            status, out, err = self._run(args, timeout=timeout)
            if status != 0 and time.monotonic() - started >= timeout:
                return status, out, 'no answer within %gs' % round(timeout, 1)
            if status == 0 or not _TRANSIENT.search(err) or attempt == TRANSIENT_RETRIES - 1:
                return status, out, err
            pause = 0.5 * (attempt + 1)
            if self.deadline is not None and time.monotonic() + pause >= self.deadline:
                return status, out, err
            time.sleep(pause)
        return status, out, err

    def _network_error(self, what, err):
        reason = diagnose(err) or _last_lines(err) or 'no answer (timed out after %ds)' % self.network_timeout
        return RepositoryError(self.remote.scrub('cannot %s lock repository %s: %s' % (what, self.remote.display_url, reason)))

    # -- reading the remote ---------------------------------------------------------

    def remote_head(self):
        """The branch's commit on the server right now (one cheap round trip), or None if absent."""
        ref = 'refs/heads/' + self.remote.branch
        status, out, err = self._network('ls-remote', ['ls-remote', '--end-of-options', self.remote.url, ref])
        if status != 0:
            raise self._network_error('read', err)
        for line in out.splitlines():
            sha, _sep, name = line.partition('\t')
            if name == ref:
                return sha
        return None

    def remote_refs(self, prefix, max_age=None):
        """{ref name: sha} of the server's refs under ``prefix`` (one ls-remote round trip).

        With ``max_age`` (seconds), a view of them that another run on this machine read at most that
        long ago serves instead: the many waiters one release wakes ask the server once, not each.
        """
        if max_age is None:
            return self._read_remote_refs(prefix)
        with open(self._view_path + '.lock', 'a') as handle:
            self._lock(handle)
            try:
                view = self._shared_view()
                if view.get('prefix') == prefix and 0 <= time.time() - view.get('read_at', 0) <= max_age:
                    return view['refs']
                refs = self._read_remote_refs(prefix)
                self._write_atomically(self._view_path, json.dumps(dict(prefix=prefix, read_at=time.time(), refs=refs)))
                return refs
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _shared_view(self):
        try:
            with open(self._view_path) as handle:
                view = json.load(handle)
            return view if isinstance(view, dict) else {}
        except (IOError, OSError, ValueError):
            return {}

    def _read_remote_refs(self, prefix):
        status, out, err = self._network('ls-remote', ['ls-remote', '--end-of-options', self.remote.url, prefix + '*'])
        if status != 0:
            raise self._network_error('read', err)
        refs = {}
        for line in out.splitlines():
            sha, _sep, name = line.partition('\t')
            if name.startswith(prefix):
                refs[name] = sha
        return refs

    def push_refs(self, refspecs, atomic=True):
        """Push ``refspecs`` (``sha:ref``, or ``:ref`` to delete) to refs outside the branch.

        True when the server took them (all of them when ``atomic``), False when it refused a ref.
        """
        status, out, err = self._network('push', ['push', '--porcelain'] + (['--atomic'] if atomic else [])
                                         + ['--end-of-options', self.remote.url] + list(refspecs))
        if status == 0:
            return True
        if any(line.startswith('!') for line in out.splitlines()):
            return False
        raise self._network_error('push to', err)

    def local_head(self):
        """The branch's commit in the cache, or None; read in process (no git run), as waiters read it often."""
        try:
            return git.Reference.dereference_recursive(self._repo, self._ref)
        except ValueError:
            return None

    def fetch(self):
        """Bring the branch into the cache; returns its commit sha, or None when the repository is empty (it has
        no branch at all yet: the first commit pushed creates it). Caller holds exclusive()."""
        refspec = '+refs/heads/%s:%s' % (self.remote.branch, self._ref)
        status, _out, err = self._network('fetch', ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--end-of-options', self.remote.url, refspec])
        if status != 0:
            if "couldn't find remote ref" in err:
                if self._is_empty():
                    return None
                raise self._missing_branch_error()
            if _DAMAGE.search(err):
                raise self._damaged('git fetch', err)
            raise self._network_error('fetch', err)
        return self.local_head()

    def refresh(self):
        """For readers: the branch's commit, fetched only when the server's differs from the cache's.

        One ls-remote; the cache lock is taken only when there is something to fetch.
        """
        remote = self.remote_head()
        if remote is None:
            raise self._missing_branch_error()
        if remote == self.local_head():
            return remote
        with self.exclusive():
            return self.fetch()

    def _is_empty(self):
        """True when the server has no branch at all (a repository made with ``git init --bare``)."""
        return not self._read_remote_refs('refs/heads/')

    def _missing_branch_error(self):
        if self._is_empty():
            return RepositoryError("lock repository %s is empty (it has no branch '%s' yet): add a lock with "
                                   "lockpool.git.pool_lock state=present, which creates the branch and the pool"
                                   % (self.remote.display_url, self.remote.branch))
        return RepositoryError("branch '%s' does not exist in lock repository %s" % (self.remote.branch, self.remote.display_url))

    def _remove_stale_ref_locks(self):
        """A run killed during an update leaves ``*.lock`` files; we hold the cache lock, so they are stale."""
        ref_dir = os.path.join(self.path, 'refs', 'lockpool')
        for directory, _dirs, files in os.walk(ref_dir):
            for name in files:
                if name.endswith('.lock'):
                    os.unlink(os.path.join(directory, name))
        packed = os.path.join(self.path, 'packed-refs.lock')
        if os.path.exists(packed):
            os.unlink(packed)

    def commit(self, sha):
        """The commit ``sha`` (read when an attribute is first used, without asking git what kind of object it is)."""
        return git.Commit(self._repo, bytes.fromhex(sha))

    def commit_info(self, sha, changes):
        """CommitInfo of the commit ``sha``, read in process; ``changes`` as the caller knows them (it made the commit)."""
        commit = self.commit(sha)
        return CommitInfo(sha, commit.committed_date, commit.author.name, commit.message, tuple(changes))

    def read_blob(self, sha):
        return self._repo.odb.stream(bytes.fromhex(sha)).read()

    def last_commit(self, head, path):
        """The newest commit at or before ``head`` that changed ``path``, as CommitInfo, or None."""
        return self.newest_commit([head], [path])

    def newest_commit(self, revisions, paths=(), pattern=None):
        """The newest commit of ``revisions`` (git log's range syntax) that changed one of ``paths`` (any
        commit when empty) and has a message line matching the extended regular expression ``pattern``."""
        grep = ['-E', '--grep=' + pattern] if pattern else []
        if paths and pattern:
            return self._newest_changing(grep + list(revisions), paths)
        out = self._check('git log', ['log', '-1', _LOG_FORMAT] + grep + list(revisions) + ['--'] + list(paths))
        if not out:
            return None
        sha, when, author, message = out.split('\x00', 3)
        return CommitInfo(sha, int(when), author, message, ())

    def _newest_changing(self, log_args, paths):
        """The newest commit ``git log <log_args>`` lists that changed one of ``paths``, or None.

        Given the paths, git would compare every commit it walks with its parent, a pool's whole directory
        each time (a lock never claimed walks the whole history); this compares only the commits listed.
        """
        commits = self._log(log_args + ['--'])
        try:
            return next((commit for commit in commits if any(path in paths for _status, path in commit.changes)), None)
        finally:
            commits.close()

    def history(self, head, paths=(), added_only=False):
        """The commits at or before ``head`` that changed ``paths``, newest first, as CommitInfo.

        A generator over one running ``git log``: git walks only as far as it is read, and
        closing the generator stops it. Renames are reported as a delete and an add;
        ``added_only`` keeps the adds only.
        """
        return self._log((['--diff-filter=A'] if added_only else []) + [head, '--'] + list(paths))

    def _log(self, log_args):
        """CommitInfo of each commit ``git log --name-status <log_args>`` lists, as git lists it."""
        process = self._repo.git.execute(_GIT + ['log', '--no-renames', '-z', '--name-status', _LOG_FORMAT] + log_args,
                                         as_process=True)
        finished = False
        try:
            yield from _parse_log(_null_separated(process.stdout))
            finished = True
        finally:
            self._end_log(process, finished)

    def _end_log(self, process, finished):
        if not finished and process.poll() is None:
            process.terminate()
        error = process.stderr.read().decode('utf-8', 'replace')
        process.stdout.close()
        process.stderr.close()
        status = process.proc.wait()
        if finished and status != 0:
            raise self._damaged('git log', error)

    # -- writing --------------------------------------------------------------------

    def write_commit(self, base, edits, message, author):
        """Create (not push) a commit on top of ``base`` (None: the first commit of the branch) that applies ``edits``; returns its sha.

        Built in process: only the trees on the edited paths are read and written again, every other
        tree is kept as it is, and a directory left empty is dropped, as git write-tree does.
        """
        changes = {}
        for edit in edits:
            if isinstance(edit, Move):
                changes[_path_bytes(edit.source.path)] = None
                changes[_path_bytes(edit.target)] = (edit.source.mode, bytes.fromhex(edit.source.sha))
            elif isinstance(edit, Write):
                changes[_path_bytes(edit.path)] = (edit.mode, self._store('blob', edit.data))
            elif isinstance(edit, Delete):
                changes[_path_bytes(edit.path)] = None
        parents = [self.commit(base)] if base else []
        tree = self._store('tree', tree_data(self._edited_tree(parents[0].tree.binsha if parents else None, changes)))
        commit = git.Commit.create_from_tree(
            self._repo, git.Tree(self._repo, tree), message, parent_commits=parents,
            author=git.Actor(_author_name(author), _COMMITTER[1]), committer=git.Actor(*_COMMITTER))
        return commit.hexsha

    def _edited_tree(self, binsha, changes):
        """The entries of the tree ``binsha`` (None: no tree yet) with ``changes`` ({path: (mode, binsha) or None}) made."""
        data = self._repo.odb.stream(binsha).read() if binsha else b''
        entries = {name: (int(mode, 8), sha) for mode, name, sha in tree_entries(data)}
        nested = {}
        for path, entry in changes.items():
            name, _slash, rest = path.partition(b'/')
            if rest:
                nested.setdefault(name, {})[rest] = entry
            elif entry is None:
                entries.pop(name, None)
            else:
                entries[name] = entry
        for name, inner in nested.items():
            mode, sha = entries.get(name, (None, None))
            subtree = self._edited_tree(sha if mode == TREE_MODE else None, inner)
            if subtree:
                entries[name] = (TREE_MODE, self._store('tree', tree_data(subtree)))
            elif mode == TREE_MODE:
                del entries[name]
        return entries

    def _store(self, kind, data):
        """Write an object into the cache; returns its binary sha."""
        return self._repo.odb.store(IStream(kind, len(data), io.BytesIO(data))).binsha

    def push(self, sha, also=()):
        """Push ``sha`` as the branch's new head. True when it landed, False when another push won the race.

        ``also`` are refspecs for refs outside the branch that land atomically with it, or not at all.
        Caller holds exclusive(). Any other refusal raises PushRejectedError. A push whose answer was lost
        is looked up on the server: if it landed, it counts as landed.
        """
        target = 'refs/heads/' + self.remote.branch
        status, out, err = self._network('push', ['push', '--porcelain'] + (['--atomic'] if also else [])
                                         + ['--end-of-options', self.remote.url, '%s:%s' % (sha, target)] + list(also))
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
        if _DAMAGE.search(err):
            raise self._damaged('git push', err)
        if self._landed(sha):
            self._record_push(sha)
            return True
        raise self._network_error('push to', err)

    def _landed(self, sha):
        try:
            return self.remote_head() == sha
        except RepositoryError:
            return False

    def _record_push(self, sha):
        """Make the pushed commit the cache's head and tell waiters here; best effort, never fails a landed push.

        GitPython writes the ref through a lock file renamed into place: a run killed meanwhile leaves the old
        head and a stale lock file, which exclusive() removes.
        """
        try:
            git.Reference(self._repo, self._ref).set_object(git.Commit(self._repo, bytes.fromhex(sha)))
            self._announce(sha)
        except (IOError, OSError):
            pass

    # -- noticing change ------------------------------------------------------------

    def _announce(self, sha):
        """Tell runs waiting on this machine that the branch moved."""
        self._write_atomically(self._head_path, sha)

    @staticmethod
    def _write_atomically(path, text):
        temporary = '%s.%d' % (path, os.getpid())
        with open(temporary, 'w') as handle:
            handle.write(text)
        os.rename(temporary, path)

    def announced(self):
        """The last change announced on this machine; read it under exclusive() to wait from that state."""
        try:
            with open(self._head_path) as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return None

    def wait_for_change(self, known, poll_interval, deadline, since=None, clock=time.monotonic, sleep=time.sleep):
        """Wait until the branch has moved from ``known`` or ``deadline`` (monotonic, None = never) passes.

        A push made from this machine after the announcement ``since`` (default: the
        current one) is seen within a tenth of a second, and returns True: the cache
        already holds that state. The server is asked (ls-remote, not a fetch) every
        ``poll_interval`` seconds; its branch having moved returns False.
        """
        next_remote_check = clock() + poll_interval
        announced_at_start = self.announced() if since is None else since
        while deadline is None or clock() < deadline:
            if self.announced() != announced_at_start:
                return True
            now = clock()
            if now >= next_remote_check:
                if self.remote_head() != known:
                    return False
                next_remote_check = now + poll_interval
            remaining = LOCAL_POLL if deadline is None else max(0.0, min(LOCAL_POLL, deadline - clock()))
            sleep(remaining * random.uniform(0.8, 1.2))
        return False


def _path_bytes(path):
    return path.encode('utf-8', 'surrogateescape')


def _author_name(name):
    """``name`` as git writes it in a commit's author line; refused, as git refuses it, when nothing is left."""
    kept = ''.join(char for char in name.strip(_NAME_CRUD) if char not in '\n<>')
    if not kept:
        raise InvalidInputError('git refuses %r as the name of a commit author: it has only punctuation and spaces' % name)
    return kept


def _null_separated(stream, size=65536):
    """The NUL-separated fields of a byte stream, as soon as each is complete."""
    pending = b''
    while True:
        chunk = stream.read1(size)
        if not chunk:
            break
        fields = (pending + chunk).split(b'\0')
        pending = fields.pop()
        yield from fields
    if pending:
        yield pending


def _parse_log(fields):
    """CommitInfo from ``git log -z --name-status`` fields: a header, then (status, path) pairs."""
    commit = None
    changes = []
    fields = iter(fields)
    for field in fields:
        text = field.decode('utf-8', 'replace').lstrip('\n')
        if commit is not None and _STATUS.match(text):
            changes.append((text, next(fields, b'').decode('utf-8', 'surrogateescape')))
            continue
        if commit is not None:
            yield commit._replace(changes=tuple(changes))
        when, author, message = (next(fields, b'').decode('utf-8', 'replace') for _header_field in range(3))
        commit, changes = CommitInfo(text, int(when), author, message, ()), []
    if commit is not None:
        yield commit._replace(changes=tuple(changes))


def race_backoff(attempt, sleep=time.sleep):
    """A short jittered pause after a lost push race, growing with the number of races lost."""
    sleep(random.uniform(0, min(0.05 * (2 ** min(attempt, 5)), 1.0)))

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cache of a lock repository: the only code that runs git.

One bare repository per remote URL under the cache directory, shared by every
run on the machine. Commits are built with plumbing in a private temporary index
(no work tree), so a run killed at any point leaves nothing half-written behind;
fetching and pushing happen under a file lock, so two runs on one machine never
update the cache's refs at once. Fetch updates only what is new, so the cost of
an operation does not grow with the repository's history.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import io
import os
import random
import re
import shutil
import tempfile
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    PushRejectedError,
    RepositoryError,
)
from ansible_collections.lockpool.git.plugins.module_utils._layout import Delete, Move, Write

try:
    import git
    from gitdb import IStream
    HAS_GITPYTHON = True
    GITPYTHON_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules report it with missing_required_lib
    HAS_GITPYTHON = False
    GITPYTHON_IMPORT_ERROR = exc

NETWORK_TIMEOUT = 120
TRANSIENT_RETRIES = 3
_NULL_SHA = '0' * 40
_COMMITTER = ('lockpool', 'lockpool@localhost')
_TRANSIENT = re.compile(
    r'connection (?:reset|refused|timed out)|early eof|remote end hung up|'
    r'unable to (?:connect|access)|could not resolve|temporary failure|timed out|broken pipe',
    re.IGNORECASE)
_RACE_REASONS = ('non-fast-forward', 'fetch first', 'cannot lock ref', 'failed to update ref',
                 'incorrect old value', 'stale info')

_STATUS = re.compile(r'^[A-Z][0-9]*$')
_LOG_FORMAT = '--format=%H%x00%ct%x00%an%x00%B'

# One commit of a history walk; ``changes`` is a tuple of (status letter, path) as git diff --name-status says.
CommitInfo = namedtuple('CommitInfo', 'sha time author message changes')


def _last_lines(text, count=3):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return ' '.join(lines[-count:])


class RepoCache(object):
    """A bare clone of one lock repository, kept between runs under ``cache_dir``."""

    def __init__(self, remote, network_timeout=NETWORK_TIMEOUT):
        self.remote = remote
        self.network_timeout = network_timeout
        key = hashlib.sha256(remote.display_url.encode('utf-8')).hexdigest()[:24]
        self.path = os.path.join(remote.cache_dir, key + '.git')
        self._lock_path = self.path + '.lock'
        self._head_path = os.path.join(remote.cache_dir, '%s.%s.head' % (key, hashlib.sha256(remote.branch.encode('utf-8')).hexdigest()[:12]))
        self._ref = 'refs/lockpool/heads/' + remote.branch
        self._repo = None

    # -- set-up ---------------------------------------------------------------------

    def open(self):
        """Create the cache if needed and make it ready; returns self."""
        os.makedirs(self.remote.cache_dir, mode=0o700, exist_ok=True)
        with self.exclusive():
            if not os.path.isfile(os.path.join(self.path, 'HEAD')):
                self._create()
            self._repo = git.Repo(self.path)
            self._repo.git.update_environment(**self.remote.env)
        return self

    def _create(self):
        if os.path.exists(self.path):
            shutil.rmtree(self.path)
        repo = git.Repo.init(self.path, bare=True, mkdir=True)
        with repo.config_writer() as config:
            config.set_value('core', 'logAllRefUpdates', 'false')
            config.set_value('gc', 'autoDetach', 'false')
        repo.close()

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
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- running git ----------------------------------------------------------------

    def _run(self, args, env=None, istream=None, timeout=None):
        """Run git; return (status, stdout, stderr) as text. Never raises on a git failure."""
        status, out, err = self._repo.git.execute(
            ['git'] + list(args), with_extended_output=True, with_exceptions=False,
            istream=istream, env=env, kill_after_timeout=timeout or self.network_timeout)
        return status, out, err

    def _check(self, what, args, env=None, istream=None):
        status, out, err = self._run(args, env=env, istream=istream)
        if status != 0:
            raise RepositoryError(self.remote.scrub('%s failed in the cache %s: %s' % (what, self.path, _last_lines(err))))
        return out

    def _network(self, what, args):
        """Run a git command that talks to the server, retrying transient failures."""
        for attempt in range(TRANSIENT_RETRIES):
            status, out, err = self._run(args)
            if status == 0 or not _TRANSIENT.search(err) or attempt == TRANSIENT_RETRIES - 1:
                return status, out, err
            time.sleep(0.5 * (attempt + 1))
        return status, out, err

    def _network_error(self, what, err):
        reason = _last_lines(err) or 'no answer (timed out after %ds)' % self.network_timeout
        return RepositoryError(self.remote.scrub('cannot %s lock repository %s: %s' % (what, self.remote.display_url, reason)))

    # -- reading the remote ---------------------------------------------------------

    def remote_head(self):
        """The branch's commit on the server right now (one cheap round trip), or None if absent."""
        ref = 'refs/heads/' + self.remote.branch
        status, out, err = self._network('ls-remote', ['ls-remote', self.remote.url, ref])
        if status != 0:
            raise self._network_error('read', err)
        for line in out.splitlines():
            sha, _sep, name = line.partition('\t')
            if name == ref:
                return sha
        return None

    def local_head(self):
        status, out, _err = self._run(['rev-parse', '--verify', '--quiet', self._ref])
        return out.strip() if status == 0 else None

    def fetch(self):
        """Bring the branch into the cache; returns its commit sha. Caller holds exclusive()."""
        self._remove_stale_ref_locks()
        refspec = '+refs/heads/%s:%s' % (self.remote.branch, self._ref)
        status, _out, err = self._network('fetch', ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', self.remote.url, refspec])
        if status != 0:
            if "couldn't find remote ref" in err:
                raise self._missing_branch_error()
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

    def _missing_branch_error(self):
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
        return self._repo.commit(sha)

    def read_blob(self, sha):
        return self._repo.odb.stream(bytes.fromhex(sha)).read()

    def history(self, head, paths=(), added_only=False):
        """The commits at or before ``head`` that changed ``paths``, newest first, as CommitInfo.

        A generator over one running ``git log``: git walks only as far as it is read, and
        closing the generator stops it. Renames are reported as a delete and an add;
        ``added_only`` keeps the adds only.
        """
        args = ['git', 'log', '--no-renames', '-z', '--name-status', _LOG_FORMAT]
        if added_only:
            args.append('--diff-filter=A')
        process = self._repo.git.execute(args + [head, '--'] + list(paths), as_process=True)
        finished = False
        try:
            for commit in _parse_log(_null_separated(process.stdout)):
                yield commit
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
            raise RepositoryError(self.remote.scrub('git log failed in the cache %s: %s' % (self.path, _last_lines(error))))

    # -- writing --------------------------------------------------------------------

    def write_commit(self, base, edits, message, author):
        """Create (not push) a commit on top of ``base`` that applies ``edits``; returns its sha."""
        workdir = tempfile.mkdtemp(prefix='lockpool-')
        try:
            env = {'GIT_INDEX_FILE': os.path.join(workdir, 'index')}
            self._check('git read-tree', ['read-tree', base], env=env)
            entries = []
            for edit in edits:
                if isinstance(edit, Move):
                    entries.append('0 %s\t%s' % (_NULL_SHA, edit.source.path))
                    entries.append('%o %s\t%s' % (edit.source.mode, edit.source.sha, edit.target))
                elif isinstance(edit, Write):
                    entries.append('%o %s\t%s' % (edit.mode, self._store_blob(edit.data), edit.path))
                elif isinstance(edit, Delete):
                    entries.append('0 %s\t%s' % (_NULL_SHA, edit.path))
            index_info = os.path.join(workdir, 'index-info')
            with open(index_info, 'wb') as handle:
                handle.write(''.join(entry + '\0' for entry in entries).encode('utf-8'))
            with open(index_info, 'rb') as handle:
                self._check('git update-index', ['update-index', '-z', '--index-info'], env=env, istream=handle)
            tree = self._check('git write-tree', ['write-tree'], env=env).strip()
            message_file = os.path.join(workdir, 'message')
            with io.open(message_file, 'w', encoding='utf-8') as handle:
                handle.write(message)
            env.update({
                'GIT_AUTHOR_NAME': author, 'GIT_AUTHOR_EMAIL': _COMMITTER[1],
                'GIT_COMMITTER_NAME': _COMMITTER[0], 'GIT_COMMITTER_EMAIL': _COMMITTER[1],
            })
            return self._check('git commit-tree', ['commit-tree', tree, '-p', base, '-F', message_file], env=env).strip()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _store_blob(self, data):
        stream = self._repo.odb.store(IStream('blob', len(data), io.BytesIO(data)))
        return stream.hexsha.decode('ascii') if isinstance(stream.hexsha, bytes) else stream.hexsha

    def push(self, sha):
        """Push ``sha`` as the branch's new head. True when it landed, False when another push won the race.

        Caller holds exclusive(). Any other refusal raises PushRejectedError.
        """
        target = 'refs/heads/' + self.remote.branch
        status, out, err = self._network('push', ['push', '--porcelain', self.remote.url, '%s:%s' % (sha, target)])
        if status == 0:
            self._check('git update-ref', ['update-ref', self._ref, sha])
            self._announce(sha)
            return True
        for line in out.splitlines():
            if line.startswith('!'):
                reason = line.split('\t')[-1]
                if any(race in reason for race in _RACE_REASONS):
                    return False
                raise PushRejectedError(self.remote.scrub(
                    'the lock repository %s refused the push to %s: %s %s'
                    % (self.remote.display_url, self.remote.branch, reason, _last_lines(err))).strip())
        raise self._network_error('push to', err)

    # -- noticing change ------------------------------------------------------------

    def _announce(self, sha):
        """Tell runs waiting on this machine that the branch moved."""
        temporary = '%s.%d' % (self._head_path, os.getpid())
        with open(temporary, 'w') as handle:
            handle.write(sha)
        os.rename(temporary, self._head_path)

    def _announced(self):
        try:
            with open(self._head_path) as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return None

    def wait_for_change(self, known, poll_interval, deadline, clock=time.monotonic, sleep=time.sleep):
        """Return when the branch has moved from ``known`` or ``deadline`` (monotonic, None = never) passes.

        A push made from this machine is seen within a tenth of a second; the server
        is asked (ls-remote, not a fetch) every ``poll_interval`` seconds.
        """
        next_remote_check = clock() + poll_interval
        announced_at_start = self._announced()
        while deadline is None or clock() < deadline:
            if self._announced() != announced_at_start:
                return
            now = clock()
            if now >= next_remote_check:
                if self.remote_head() != known:
                    return
                next_remote_check = now + poll_interval
            remaining = 0.1 if deadline is None else max(0.0, min(0.1, deadline - clock()))
            sleep(remaining * random.uniform(0.8, 1.2))


def _null_separated(stream, size=65536):
    """The NUL-separated fields of a byte stream, as soon as each is complete."""
    pending = b''
    while True:
        chunk = stream.read1(size)
        if not chunk:
            break
        fields = (pending + chunk).split(b'\0')
        pending = fields.pop()
        for field in fields:
            yield field
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
            changes.append((text, next(fields).decode('utf-8', 'surrogateescape')))
            continue
        if commit is not None:
            yield commit._replace(changes=tuple(changes))
        when, author, message = (next(fields).decode('utf-8', 'replace') for _ in range(3))
        commit, changes = CommitInfo(text, int(when), author, message, ()), []
    if commit is not None:
        yield commit._replace(changes=tuple(changes))


def race_backoff(attempt, sleep=time.sleep):
    """A short jittered pause after a lost push race, growing with the number of races lost."""
    sleep(random.uniform(0, min(0.05 * (2 ** min(attempt, 5)), 1.0)))

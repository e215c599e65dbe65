# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running git in the cache: paths taken literally, network commands bounded in time and retried on
transient failures, and what git's complaints mean, said as errors the user can act on.

A local command that fails means the cache is damaged (its input was made here):
CacheDamagedError. A network command that fails says why, diagnosed from git's and
ssh's stderr. Every message goes through the ``scrub`` given, which hides secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import re
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, RepositoryError

try:
    import git
except ImportError:  # guarded: _git_objects says so (HAS_GITPYTHON), and plugins report it before running git
    git = None

NETWORK_TIMEOUT = 120
MIN_NETWORK_TIMEOUT = 1
TRANSIENT_RETRIES = 3
# Paths handed to git are paths, never patterns: a lock named ``e*`` or a pool named ``:p`` means just that.
_GIT = ['git', '--literal-pathspecs']
# Failures that may pass: trying again soon may get through.
_TRANSIENT = re.compile(
    r'connection (?:reset|refused|timed out)|early eof|remote end hung up|'
    r'unable to (?:connect|access)|could not resolve|temporary failure|timed out|broken pipe',
    re.IGNORECASE)
_Diagnosis = namedtuple('_Diagnosis', 'pattern meaning transient')
# What git's and ssh's complaints mean, said so that the user knows what to change, the first that matches (so the
# specific before the general: a changed host key also fails host key verification, an unreadable key is also
# refused); and whether trying again may help. Refused credentials, host keys and certificates stay refused, even
# where git words the refusal as a transient failure ("unable to access ...: 403").
_DIAGNOSES = (
    _Diagnosis(re.compile(r'Load key .*: (?:error in libcrypto|invalid format)'),
               'the private key cannot be read: ssh could not load it (check that private_key or private_key_file '
               'holds the whole key as ssh-keygen wrote it, line breaks included)', False),
    _Diagnosis(re.compile(r'Host key for .* has changed'),
               "the server's host key has changed: it differs from the key known_hosts holds for this host "
               '(accept_new_host_keys trusts only hosts never seen before); if the server was given a new key, '
               'put that key in known_hosts, otherwise someone may be impersonating the server', False),
    _Diagnosis(re.compile(r'Host key verification failed'),
               "host key verification failed: the server's host key is not trusted; "
               'pass it in known_hosts, or set accept_new_host_keys to trust it on first use', False),
    _Diagnosis(re.compile(r'Permission denied \(publickey'),
               'permission denied (publickey): the server refused the private key '
               '(check private_key or private_key_file, and private_key_passphrase for a protected key)', False),
    _Diagnosis(re.compile(r'Authentication failed|HTTP Basic: Access denied|returned error: 401'),
               'authentication failed: the server refused the username and password, or none was given', False),
    _Diagnosis(re.compile(r'returned error: 403'),
               'access denied (HTTP 403): the server knows these credentials but does not let them at this repository',
               False),
    _Diagnosis(re.compile(r"Connection refused|Couldn't connect to server"),
               'connection refused: nothing answers at that address (is the server up?)', True),
    _Diagnosis(re.compile(r'Could not resolve host'), 'the host name does not resolve', True),
    _Diagnosis(re.compile(r'SSL certificate problem|certificate verif', re.IGNORECASE),
               "TLS certificate verification failed: trust the server's CA with git_config http.sslCAInfo, or set "
               'ssl_verify to false', False),
    _Diagnosis(re.compile(r'timed out|Timeout', re.IGNORECASE), 'the connection timed out', True),
)
# A push is diagnosed with these first: what they mean when git was writing.
_PUSH_DIAGNOSES = (
    _Diagnosis(re.compile(r'returned error: 403'),
               'the credentials may read but not write: the server refused the push with HTTP 403 Forbidden '
               '(give username and password, or a token, allowed to push to the repository)', False),
)
# What git says when the cache itself (not the server) is the problem.
_DAMAGE = re.compile(
    r'corrupt|bad object|unable to unpack|inflate:|object file .* is empty|not a git repository|cannot lock ref|'
    r'unable to read|did not send all necessary objects|pack-objects died|bad config',
    re.IGNORECASE)
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


def _diagnosis(stderr, pushing=False):
    """(the first _Diagnosis that ``stderr`` matches, the line it matched), or (None, None)."""
    for diagnosis in (_PUSH_DIAGNOSES if pushing else ()) + _DIAGNOSES:
        for line in stderr.splitlines():
            if diagnosis.pattern.search(line):
                return diagnosis, line.strip()
    return None, None


def diagnose(stderr, pushing=False):
    """What a failed network git command's stderr means for the user, and the line that says so; None when unknown.

    ``pushing``: the command was a push (a refusal then means the credentials may not write).
    """
    diagnosis, line = _diagnosis(stderr, pushing)
    return None if diagnosis is None else '%s (%s)' % (diagnosis.meaning, line)


def is_transient(stderr):
    """True when a failed network git command's stderr says trying again soon may get through."""
    diagnosis, _line = _diagnosis(stderr)
    return bool(_TRANSIENT.search(stderr)) if diagnosis is None else diagnosis.transient


def shows_damage(stderr):
    """True when git's stderr says that the cache itself, not the server, is the problem."""
    return bool(_DAMAGE.search(stderr))


class GitRunner(object):
    """Runs git (GitPython's ``execute``) in the cache at ``path`` with the environment ``env``.

    ``remote_name`` is how messages name the remote (no secret in it); ``network_timeout`` bounds
    each network command, and the ``deadline`` a caller passes bounds them all.
    """

    def __init__(self, path, env, remote_name, scrub, network_timeout=NETWORK_TIMEOUT):
        self.path = path
        self.remote_name = remote_name
        self.scrub = scrub
        self.network_timeout = network_timeout
        self._git = git.Git(path)
        self._git.update_environment(**env)

    def run(self, args, timeout=None):
        """Run git; return (status, stdout, stderr) as text. Never raises on a git failure."""
        status, out, err = self._git.execute(
            _GIT + list(args), with_extended_output=True, with_exceptions=False,
            kill_after_timeout=timeout or self.network_timeout)
        return status, out, err

    def local(self, what, args):
        """Run a local git command and return its stdout; its failure means the cache is damaged (we made its input)."""
        status, out, err = self.run(args)
        if status != 0:
            raise self.damaged(what, err)
        return out

    @contextlib.contextmanager
    def local_fields(self, what, args):
        """The NUL-separated fields of a local git command's stdout, read while it runs.

        Leaving the block early stops git; a command read to its end that failed means the cache is damaged.
        """
        process = self._git.execute(_GIT + list(args), as_process=True)
        finished = False
        try:
            yield _null_separated(process.stdout)
            finished = True
        finally:
            self._end(what, process, finished)

    def _end(self, what, process, finished):
        if not finished and process.poll() is None:
            process.terminate()
        error = process.stderr.read().decode('utf-8', 'replace')
        process.stdout.close()
        process.stderr.close()
        status = process.proc.wait()
        if finished and status != 0:
            raise self.damaged(what, error)

    def network(self, args, deadline=None):
        """Run a git command that talks to the server, retrying transient failures while time is left.

        ``deadline`` (time.monotonic(), None: none) cuts each command's time. ``args`` put --end-of-options
        before the URL: a URL such as ``--upload-pack=<command>`` must never be an option.
        """
        for attempt in range(TRANSIENT_RETRIES):
            timeout = self._time_left(deadline)
            started = time.monotonic()
            status, out, err = self.run(args, timeout=timeout)
            if status != 0 and time.monotonic() - started >= timeout:
                return status, out, 'no answer within %gs' % round(timeout, 1)
            if status == 0 or not is_transient(err) or attempt == TRANSIENT_RETRIES - 1:
                return status, out, err
            pause = 0.5 * (attempt + 1)
            if deadline is not None and time.monotonic() + pause >= deadline:
                return status, out, err
            time.sleep(pause)
        return status, out, err

    def _time_left(self, deadline):
        """How long the next network command may run: network_timeout, cut to the deadline (at least a second)."""
        if deadline is None:
            return self.network_timeout
        return max(MIN_NETWORK_TIMEOUT, min(self.network_timeout, deadline - time.monotonic()))

    def network_error(self, what, err):
        """The error of a network command that failed (``what``: 'read', 'fetch', 'push to'), diagnosed from git's stderr ``err``."""
        reason = diagnose(err, pushing=what.startswith('push')) or _last_lines(err) or 'no answer (timed out after %ds)' % self.network_timeout
        return RepositoryError(self.scrub('cannot %s lock repository %s: %s' % (what, self.remote_name, reason)))

    def damaged(self, what, err):
        """The error of a git command (``what``) that found the cache damaged, from git's stderr ``err``."""
        return CacheDamagedError(self.scrub('%s failed in the cache %s: %s' % (what, self.path, _last_lines(err))))

    def unreadable(self, exc):
        """The error of GitPython failing to read the cache (``exc``)."""
        return CacheDamagedError(self.scrub('cannot read the cache %s: %s' % (self.path, exc)))


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

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What git needs to authenticate: environment variables, and private files removed by close().

Nothing here is written to the repository cache or to any git config: keys,
known hosts, the user name, password and passphrase, and the helpers that hand
them to git and ssh live in a temporary directory (mode 0700, files 0600) that
exists only while the operation runs. git and ssh get their settings from the
environment of the engine's own git commands (``GIT_SSH_COMMAND``,
``GIT_CONFIG_COUNT``/``KEY``/``VALUE``, ``SSH_ASKPASS``), which names those
files but holds no secret: an environment and a command line are readable by
other local users (``ps``), a private file is not. git never reads the user's
``~/.gitconfig``, nor ``~/.netrc`` when a user name or password is given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import shutil
import stat
import tempfile

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._processes import process_exists

SSH_CONNECT_TIMEOUT = 15
SSH_SERVER_ALIVE_INTERVAL = 15
HTTP_LOW_SPEED_LIMIT = 1000
HTTP_LOW_SPEED_TIME = 30

# git's credential helper protocol: "get" is answered with the user name and password at once, so git never
# prompts (its password prompt, an askpass helper's argument, would name the user, which may be a token);
# "store" and "erase" change nothing.
_CREDENTIAL_HELPER_SCRIPT = '''#!/bin/sh
[ "$1" = get ] || exit 0
exec cat {answer}
'''
# ssh asks its passphrase question of SSH_ASKPASS; any other question (a host key to confirm) gets no answer.
_ASKPASS_SCRIPT = '''#!/bin/sh
case "$1" in
  *passphrase*) exec cat {answer} ;;
  *) exit 1 ;;
esac
'''
_PRIVATE_KEY_HEADER = re.compile(r'-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----')
_GIT_CONFIG_KEY = re.compile(r'^[A-Za-z0-9-]+(\.[^\n\x00]+)?\.[A-Za-z][A-Za-z0-9-]*$')
_GIT_CONFIG_SCALARS = (str, int, float, bool)


DIRECTORY_PREFIX = 'lockpool-credentials-'
_LEFT_BEHIND = re.compile(r'^%s(?P<pid>\d+)-' % re.escape(DIRECTORY_PREFIX))


def sweep_left_behind(parent=None):
    """Remove the credential directories of runs that are gone: a run killed by SIGKILL cannot remove its own, so
    the next run on the machine does (each directory is named after the process that made it, and is its owner's)."""
    parent = parent or tempfile.gettempdir()
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = _LEFT_BEHIND.match(name)
        path = os.path.join(parent, name)
        if match and int(match.group('pid')) != os.getpid() and not process_exists(int(match.group('pid'))):
            try:
                if os.lstat(path).st_uid == os.getuid():
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


class Credentials(object):
    """The connection options that are about trust and identity, turned into ``env`` for git."""

    def __init__(self, private_key=None, private_key_file=None, private_key_passphrase=None,
                 username=None, password=None, known_hosts=None, accept_new_host_keys=False,
                 git_config=None, ssl_verify=True):
        self.directory = None
        key = private_key_text(private_key, private_key_file)
        self.secrets = [secret for secret in (key and key.strip(), private_key_passphrase, password) if secret]
        self.env = {}
        try:
            self.env['GIT_SSH_COMMAND'] = self._ssh_command(key, private_key_passphrase, known_hosts, accept_new_host_keys)
            self.env.update(git_config_env(git_config, ssl_verify, self._credential_helper(username, password)))
            self._use_askpass(private_key_passphrase)
        except Exception:
            self.close()
            raise

    def close(self):
        """Remove every file written for these credentials."""
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _private_file(self, name, text, mode=stat.S_IRUSR | stat.S_IWUSR):
        if self.directory is None:
            sweep_left_behind()
            self.directory = tempfile.mkdtemp(prefix='%s%d-' % (DIRECTORY_PREFIX, os.getpid()))
        path = os.path.join(self.directory, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, 'w') as handle:
            handle.write(text)
        return path

    def _answering_script(self, name, script, answer):
        """An executable ``script`` that prints ``answer``, which it reads from a private file (never an argument)."""
        answer_file = self._private_file(name + '.answer', answer)
        return self._private_file(name, script.format(answer=shlex.quote(answer_file)), mode=stat.S_IRWXU)

    def _ssh_command(self, key, passphrase, known_hosts, accept_new_host_keys):
        """ssh that never waits for a person; isolated from ~/.ssh as soon as a key or host trust is given."""
        options = ['ConnectTimeout=%d' % SSH_CONNECT_TIMEOUT,
                   'ServerAliveInterval=%d' % SSH_SERVER_ALIVE_INTERVAL, 'ServerAliveCountMax=2']
        if passphrase:
            # BatchMode would refuse to ask for the passphrase: answer through the askpass helper instead.
            options += ['PasswordAuthentication=no', 'KbdInteractiveAuthentication=no', 'NumberOfPasswordPrompts=1']
        else:
            options.append('BatchMode=yes')
        command = ['ssh']
        if key or known_hosts or accept_new_host_keys:
            command += ['-F', os.devnull]
            known_hosts_file = self._private_file('known_hosts', known_hosts_text(known_hosts) if known_hosts else '')
            options += ['UserKnownHostsFile=' + known_hosts_file,
                        'StrictHostKeyChecking=' + ('accept-new' if accept_new_host_keys else 'yes')]
        if key:
            command += ['-i', self._private_file('identity', key)]
            options += ['IdentitiesOnly=yes', 'IdentityAgent=none']
        for option in options:
            command += ['-o', option]
        return ' '.join(shlex.quote(part) for part in command)

    def _credential_helper(self, username, password):
        """The ``credential.helper`` that tells git the user name and password; None without either."""
        if not (username or password):
            return None
        helper = self._answering_script('credential-helper', _CREDENTIAL_HELPER_SCRIPT,
                                        credential_text(username or '', password or ''))
        # git's HTTP client reads $HOME/.netrc before asking; a home without one leaves the options in charge.
        self.env['HOME'] = self.directory
        return '!' + shlex.quote(helper)

    def _use_askpass(self, passphrase):
        if passphrase:
            askpass = self._answering_script('askpass', _ASKPASS_SCRIPT, passphrase + '\n')
            self.env.update(SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE='force')


def credential_text(username, password):
    """What the credential helper tells git: its ``username=`` and ``password=`` lines."""
    # A newline would end a value early and start a line of its own choosing; git refuses one in a URL's too.
    if '\n' in username + password:
        raise InvalidInputError('the user name and the password must not contain a newline')
    return 'username=%s\npassword=%s\n' % (username, password)


def private_key_text(private_key, private_key_file):
    """The private key's text from either option, with Unix line endings and the final newline ssh insists on;
    None without a key.

    A key pasted on Windows or into a web form (AWX) comes with CRLF line endings, which ssh cannot load
    ("error in libcrypto", "invalid format"); the key is the same with LF.
    """
    if private_key and private_key_file:
        raise InvalidInputError('private_key and private_key_file are mutually exclusive: give one of them')
    if private_key_file:
        try:
            with open(private_key_file) as handle:
                private_key = handle.read()
        except (IOError, OSError) as exc:
            raise InvalidInputError('cannot read private_key_file %s: %s' % (private_key_file, exc.strerror))
    if not private_key:
        return None
    if not _PRIVATE_KEY_HEADER.search(private_key):
        raise InvalidInputError('%s is not a private key: it has no "-----BEGIN ... PRIVATE KEY-----" line'
                                % ('private_key_file %s' % private_key_file if private_key_file else 'private_key'))
    return private_key.strip().replace('\r\n', '\n').replace('\r', '\n') + '\n'


def known_hosts_text(known_hosts):
    """known_hosts lines, from the option's text or from the file it names."""
    path = os.path.expanduser(known_hosts.strip())
    if '\n' not in path and os.path.isfile(path):
        with open(path) as handle:
            known_hosts = handle.read()
    for number, line in enumerate(known_hosts.splitlines(), 1):
        fields = line.split()
        if fields and not fields[0].startswith('#') and len(fields) < (4 if fields[0].startswith('@') else 3):
            raise InvalidInputError('known_hosts must be a readable file or known_hosts lines ("host key-type key"); '
                                    'line %d is neither: %r' % (number, line))
    return known_hosts.strip() + '\n'


def git_config_env(git_config, ssl_verify, credential_helper=None):
    """Environment that hands git config to the engine's git commands only (git >= 2.31)."""
    # Protocol v0 reads a lock repository's few refs in one round trip fewer than v2 (which first sends its
    # capabilities); over git daemon v2's extra exchange also waits out a TCP delayed ACK (docs/performance.md).
    settings = [('protocol.version', 0),
                ('http.lowSpeedLimit', HTTP_LOW_SPEED_LIMIT), ('http.lowSpeedTime', HTTP_LOW_SPEED_TIME)]
    if not ssl_verify:
        settings.append(('http.sslVerify', False))
    settings += sorted((git_config or {}).items())
    if credential_helper:
        # Last: a helper git_config names is asked first, as it was when git's last resort, askpass, answered.
        settings.append(('credential.helper', credential_helper))
    env = {'GIT_CONFIG_COUNT': str(len(settings))}
    for index, (key, value) in enumerate(settings):
        env['GIT_CONFIG_KEY_%d' % index] = _git_config_key(key)
        env['GIT_CONFIG_VALUE_%d' % index] = _git_config_value(key, value)
    return env


def _git_config_key(key):
    if not isinstance(key, str) or not _GIT_CONFIG_KEY.match(key):
        raise InvalidInputError('git_config key %r is not a git config key (section.name or section.subsection.name)' % (key,))
    return key


def _git_config_value(key, value):
    if not isinstance(value, _GIT_CONFIG_SCALARS):
        raise InvalidInputError('git_config %s must be a string, a number or a boolean, got %r' % (key, value))
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)

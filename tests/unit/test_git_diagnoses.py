"""What git's and ssh's complaints are said to mean, and which of them are worth trying again."""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._git_command import diagnose, is_transient

FORBIDDEN = "fatal: unable to access 'https://git.example.com/locks.git/': The requested URL returned error: 403"
UNAUTHORIZED = "fatal: unable to access 'https://git.example.com/locks.git/': The requested URL returned error: 401"
CHANGED_HOST_KEY = '\n'.join([
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
    'Host key for [git.example.com]:2222 has changed and you have requested strict checking.',
    'Host key verification failed.',
    'fatal: Could not read from remote repository.'])
UNREADABLE_KEY = 'Load key "/tmp/lockpool-x/key": error in libcrypto\ngit@git.example.com: Permission denied (publickey).'


def test_a_push_refused_with_403_means_the_credentials_may_read_but_not_write():
    assert diagnose(FORBIDDEN, pushing=True).startswith('the credentials may read but not write')


def test_a_read_refused_with_403_is_not_said_to_be_about_writing():
    diagnosis = diagnose(FORBIDDEN)
    assert diagnosis.startswith('access denied (HTTP 403)') and 'write' not in diagnosis


def test_a_changed_host_key_is_said_to_have_changed_quoting_the_line_that_names_the_host():
    diagnosis = diagnose(CHANGED_HOST_KEY)
    assert diagnosis.startswith("the server's host key has changed")
    assert 'set accept_new_host_keys' not in diagnosis
    assert diagnosis.endswith('(Host key for [git.example.com]:2222 has changed and you have requested strict checking.)')


def test_a_key_ssh_cannot_load_is_said_to_be_unreadable_rather_than_refused():
    assert diagnose(UNREADABLE_KEY).startswith('the private key cannot be read')


@pytest.mark.parametrize('stderr', [FORBIDDEN, UNAUTHORIZED, CHANGED_HOST_KEY, UNREADABLE_KEY,
                                    "fatal: Authentication failed for 'https://git.example.com/locks.git/'"],
                         ids=['403', '401', 'changed-host-key', 'unreadable-key', 'authentication-failed'])
def test_refusals_are_not_tried_again(stderr):
    assert not is_transient(stderr)


@pytest.mark.parametrize('stderr', [
    'ssh: connect to host 127.0.0.1 port 1: Connection refused',
    "fatal: unable to access 'http://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 port 1: Couldn't connect to server",
    'fatal: the remote end hung up unexpectedly',
], ids=['refused', 'http-refused', 'hung-up'])
def test_failures_that_may_pass_are_tried_again(stderr):
    assert is_transient(stderr)

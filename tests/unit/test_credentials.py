"""What the credential options turn into: git's environment, private files, scrubbed and diagnosed messages."""

import os
import shlex
import stat
import subprocess

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote, url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._credentials import Credentials
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._git_command import diagnose

KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'
KNOWN_HOSTS = '[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n'


@pytest.fixture
def credentials_made():
    made = []

    def make(**options):
        made.append(Credentials(**options))
        return made[-1]
    yield make
    for credentials in made:
        credentials.close()


def ssh_options(credentials):
    words = shlex.split(credentials.env['GIT_SSH_COMMAND'])
    return [words[index + 1] for index, word in enumerate(words) if word == '-o']


def git_env(env):
    """``env`` for a git command of these tests: none of the user's own settings, and no way to ask anyone."""
    return {**os.environ, 'GIT_CONFIG_GLOBAL': os.devnull, 'GIT_CONFIG_NOSYSTEM': '1', **env}


def git_config_seen_by_git(env, key):
    completed = subprocess.run(['git', 'config', '--get', key], env=git_env(env), cwd=os.sep, check=False,
                               capture_output=True, text=True)
    return completed.stdout.strip()


def credentials_git_sends(env, url='https://git.example.com/locks.git'):
    """(user name, password) that git itself would send to ``url``; fails if git would have to prompt for one."""
    env = git_env(dict(env, GIT_ASKPASS='false', GIT_TERMINAL_PROMPT='0'))
    completed = subprocess.run(['git', 'credential', 'fill'], input='url=%s\n' % url, env=env, cwd=os.sep,
                               check=True, capture_output=True, text=True)
    fields = dict(line.split('=', 1) for line in completed.stdout.splitlines())
    return fields['username'], fields['password']


def test_without_options_ssh_keeps_the_users_setup_but_never_prompts(credentials_made):
    credentials = credentials_made()
    assert credentials.env['GIT_SSH_COMMAND'].split()[:2] == ['ssh', '-o']
    assert 'BatchMode=yes' in ssh_options(credentials) and 'ConnectTimeout=15' in ssh_options(credentials)
    assert credentials.directory is None


def test_a_key_isolates_ssh_from_the_users_config_agent_and_known_hosts(credentials_made):
    credentials = credentials_made(private_key=KEY)
    words = shlex.split(credentials.env['GIT_SSH_COMMAND'])
    assert words[1:3] == ['-F', os.devnull]
    options = ssh_options(credentials)
    assert {'IdentitiesOnly=yes', 'IdentityAgent=none', 'StrictHostKeyChecking=yes'} <= set(options)
    assert 'UserKnownHostsFile=%s' % os.path.join(credentials.directory, 'known_hosts') in options


def test_key_is_written_to_a_private_file_with_a_final_newline(credentials_made):
    credentials = credentials_made(private_key=KEY)
    identity = os.path.join(credentials.directory, 'identity')
    assert stat.S_IMODE(os.stat(credentials.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(identity).st_mode) == 0o600
    with open(identity) as handle:
        assert handle.read() == KEY + '\n'


def test_close_removes_every_file(credentials_made):
    credentials = credentials_made(private_key=KEY, password='secret', known_hosts=KNOWN_HOSTS)
    directory = credentials.directory
    credentials.close()
    assert not os.path.exists(directory)


def test_accept_new_host_keys_trusts_on_first_use_only(credentials_made):
    assert 'StrictHostKeyChecking=accept-new' in ssh_options(credentials_made(accept_new_host_keys=True))


def test_known_hosts_text_is_the_only_trusted_host_list(credentials_made):
    credentials = credentials_made(known_hosts=KNOWN_HOSTS)
    with open(os.path.join(credentials.directory, 'known_hosts')) as handle:
        assert handle.read() == KNOWN_HOSTS


def test_a_passphrase_is_answered_by_askpass_not_a_prompt(credentials_made):
    credentials = credentials_made(private_key=KEY, private_key_passphrase='pass phrase')
    assert 'BatchMode=yes' not in ssh_options(credentials)
    assert credentials.env['SSH_ASKPASS_REQUIRE'] == 'force'
    answer = subprocess.run([credentials.env['SSH_ASKPASS'], "Enter passphrase for key '/k': "],
                            env=dict(os.environ, **credentials.env), check=False, capture_output=True, text=True)
    assert answer.stdout == 'pass phrase\n'


@pytest.mark.parametrize('options, sent', [
    ({'username': 'alice', 'password': 's3cret'}, ('alice', 's3cret')),
    ({'username': 'alice'}, ('alice', '')),
    ({'password': 's3cret'}, ('', 's3cret')),
])
def test_username_and_password_reach_git_without_a_prompt(credentials_made, options, sent):
    assert credentials_git_sends(credentials_made(**options).env) == sent


def test_without_username_or_password_git_is_told_none(credentials_made):
    assert git_config_seen_by_git(credentials_made(private_key=KEY).env, 'credential.helper') == ''


def test_secrets_are_written_to_private_files_only(credentials_made):
    credentials = credentials_made(private_key=KEY, private_key_passphrase='phrase-2', username='alice', password='s3cret')
    assert stat.S_IMODE(os.stat(credentials.directory).st_mode) == 0o700
    for name in os.listdir(credentials.directory):
        assert stat.S_IMODE(os.stat(os.path.join(credentials.directory, name)).st_mode) & 0o077 == 0, name


@pytest.mark.parametrize('options', [{'username': 'al\nice'}, {'password': 's3\ncret'}], ids=['username', 'password'])
def test_a_newline_in_a_username_or_password_is_refused(options):
    with pytest.raises(InvalidInputError, match='must not contain a newline'):
        Credentials(**options)


def test_git_config_reaches_git_through_the_environment(credentials_made):
    credentials = credentials_made(git_config={'http.proxy': 'http://proxy:3128', 'http.lowSpeedTime': 5})
    assert git_config_seen_by_git(credentials.env, 'http.proxy') == 'http://proxy:3128'
    assert git_config_seen_by_git(credentials.env, 'http.lowSpeedTime') == '5'


def test_ssl_verify_false_turns_off_certificate_checks(credentials_made):
    assert git_config_seen_by_git(credentials_made(ssl_verify=False).env, 'http.sslVerify') == 'false'
    assert git_config_seen_by_git(credentials_made().env, 'http.sslVerify') == ''


def test_known_hosts_that_are_neither_file_nor_lines_are_refused():
    with pytest.raises(InvalidInputError, match='line 1 is neither'):
        Credentials(known_hosts='~/.ssh/no_such_known_hosts')


def test_scrub_hides_every_secret():
    with Remote('https://url-token@git.example.com/locks.git', password='pw-1', private_key=KEY,
                private_key_passphrase='phrase-2') as remote:
        text = remote.scrub('https://url-token@git.example.com url-token pw-1 phrase-2 %s' % KEY)
    assert text == 'https://***@git.example.com *** *** *** ***'


def test_scrub_hides_a_url_secret_as_written_and_as_decoded():
    with Remote('https://alice:s%40cret@git.example.com/locks.git') as remote:
        assert remote.scrub('s%40cret, s@cret') == '***, ***'


def test_url_secrets_are_the_passwords_in_a_url():
    assert url_secrets('https://alice:tok3n@git.example.com/x.git') == ['tok3n']
    assert url_secrets('https://tok%2Fen@git.example.com/x.git') == ['tok%2Fen', 'tok/en']
    assert url_secrets('ssh://git@git.example.com/x.git') == []


# -- credentials written into the URL --------------------------------------------------------------

@pytest.mark.parametrize('url, options, bare_url, sent', [
    ('https://alice:s%40cr%3At@git.example.com/locks.git', {}, 'https://git.example.com/locks.git', ('alice', 's@cr:t')),
    ('HTTP://tok%2Fen@git.example.com:8080/locks.git', {}, 'HTTP://git.example.com:8080/locks.git', ('tok/en', '')),
    ('https://alice@git.example.com/locks.git', {'password': 's3cret'}, 'https://git.example.com/locks.git', ('alice', 's3cret')),
    ('https://alice:s3cret@git.example.com/locks.git', {'username': 'alice', 'password': 's3cret'},
     'https://git.example.com/locks.git', ('alice', 's3cret')),
], ids=['user-and-password', 'token', 'user-and-password-option', 'same-as-the-options'])
def test_credentials_in_an_http_url_are_taken_out_of_it_and_handed_to_git_decoded(url, options, bare_url, sent):
    with Remote(url, **options) as remote:
        assert remote.url == bare_url
        assert remote.display_url == bare_url.replace('://', '://***@')
        assert credentials_git_sends(remote.env, bare_url) == sent


@pytest.mark.parametrize('options, message', [
    ({'username': 'bob'}, 'the user name in repo differs from the username option: give it once, in repo or as username'),
    ({'password': 'option-secret'}, 'the password in repo differs from the password option: give it once, in repo or as password'),
], ids=['username', 'password'])
def test_credentials_in_the_url_and_different_options_are_refused_without_showing_them(options, message):
    with pytest.raises(InvalidInputError) as raised:
        Remote('https://alice:url-secret@git.example.com/locks.git', **options)
    assert str(raised.value) == message


@pytest.mark.parametrize('url', ['ssh://git@git.example.com:2222/infra/locks.git', 'git@git.example.com:infra/locks.git'])
def test_ssh_urls_keep_their_user(url):
    with Remote(url) as remote:
        assert remote.url == url
        assert git_config_seen_by_git(remote.env, 'credential.helper') == ''


@pytest.mark.parametrize('url, options', [
    ('https://alice:url-secret@git.example.com/locks.git', {}),
    ('https://url-secret@git.example.com/locks.git', {}),
    ('https://git.example.com/locks.git', {'username': 'alice', 'password': 'url-secret'}),
], ids=['url-password', 'url-token', 'password-option'])
def test_no_secret_is_in_gits_environment(url, options):
    secrets = ['url-secret', 'phrase-2', KEY.splitlines()[1]]
    with Remote(url, private_key=KEY, private_key_passphrase='phrase-2', **options) as remote:
        leaks = [name for name, value in remote.env.items() if any(secret in value for secret in secrets)]
    assert leaks == []


@pytest.mark.parametrize('stderr, meaning', [
    ('git@host: Permission denied (publickey).\nfatal: Could not read from remote repository.', 'permission denied (publickey)'),
    ('Host key verification failed.\nfatal: Could not read from remote repository.', 'host key verification failed'),
    ("fatal: Authentication failed for 'https://git.example.com/x.git/'", 'authentication failed'),
    ('ssh: connect to host 127.0.0.1 port 1: Connection refused', 'connection refused'),
    ("fatal: unable to access 'https://h/x.git/': SSL certificate problem: self-signed certificate", 'TLS certificate verification failed'),
    ('ssh: connect to host 192.0.2.1 port 22: Connection timed out', 'the connection timed out'),
])
def test_diagnose_says_what_is_wrong_and_quotes_the_line(stderr, meaning):
    diagnosis = diagnose(stderr)
    assert diagnosis.startswith(meaning)
    assert diagnosis.endswith('(%s)' % stderr.splitlines()[0])

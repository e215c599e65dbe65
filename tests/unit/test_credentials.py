"""What the credential options turn into: git's environment, private files, scrubbed and diagnosed messages."""

import os
import shlex
import stat
import subprocess

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote, url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._credentials import Credentials
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import diagnose

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


def git_config_seen_by_git(env, key):
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM='1', **env)
    completed = subprocess.run(['git', 'config', '--get', key], env=env, cwd=os.sep, check=False, capture_output=True, text=True)
    return completed.stdout.strip()


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


@pytest.mark.parametrize('prompt, answer', [
    ("Username for 'https://git.example.com': ", 'alice\n'),
    ("Password for 'https://alice@git.example.com': ", 's3cret\n'),
])
def test_askpass_answers_gits_questions(credentials_made, prompt, answer):
    credentials = credentials_made(username='alice', password='s3cret')
    completed = subprocess.run([credentials.env['GIT_ASKPASS'], prompt], env=dict(os.environ, **credentials.env),
                               check=False, capture_output=True, text=True)
    assert completed.stdout == answer


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
    with Remote('https://alice:url-token@git.example.com/locks.git', password='pw-1', private_key=KEY,
                private_key_passphrase='phrase-2') as remote:
        text = remote.scrub('https://alice:url-token@git.example.com pw-1 phrase-2 %s' % KEY)
    assert text == 'https://***@git.example.com *** *** ***'


def test_url_secrets_are_the_passwords_in_a_url():
    assert url_secrets('https://alice:tok3n@git.example.com/x.git') == ['tok3n']
    assert url_secrets('ssh://git@git.example.com/x.git') == []


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

"""Authenticated lock repositories against real servers: sshd with keys, nginx + git http-backend with passwords.

Every secret is a sentinel that must never show up in results, logs, the cache or the repository.
"""

import json
import os
import pwd
import stat
import time
import uuid
from urllib.parse import quote

import pytest

from support.http_server import READ_ONLY_PREFIX
from support.modules import run_module, run_playbook, start_module
from support.repos import commit_count, git, make_lock_repo, pool_state
from support.servers import free_port
from support.ssh_server import make_key, read

PASSWORD = 'SENTINEL-PASSWORD-3f9a'
WRONG_PASSWORD = 'SENTINEL-WRONG-PASSWORD-b80e'
PASSPHRASE = 'SENTINEL-PASSPHRASE-7c21'
WRONG_PASSPHRASE = 'SENTINEL-WRONG-PASSPHRASE-d4e6'
FAILS_WITHIN = 30


class Keys(object):
    """Private keys: two the ssh server lets in (one passphrase-protected), one it does not know."""

    def __init__(self, directory, ssh_server):
        self.authorized = make_key(directory / 'authorized')
        self.protected = make_key(directory / 'protected', passphrase=PASSPHRASE)
        self.stranger = make_key(directory / 'stranger')
        for key in (self.authorized, self.protected):
            ssh_server.authorize(key + '.pub')

    def secret_lines(self):
        """The lines of every private key's body: none may appear anywhere."""
        lines = []
        for key in (self.authorized, self.protected, self.stranger):
            lines += [line for line in read(key).splitlines() if line and not line.startswith('-----')]
        return lines


@pytest.fixture(scope='module')
def keys(tmp_path_factory, ssh_server):
    return Keys(tmp_path_factory.mktemp('keys'), ssh_server)


@pytest.fixture(scope='module')
def http_user(http_server):
    http_server.add_user('alice', PASSWORD)
    return 'alice'


@pytest.fixture
def ssh_repo(tmp_path):
    return make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n'}})


@pytest.fixture
def ssh_args(ssh_server, ssh_repo, cache_dir):
    """pool_lock options that reach ``ssh_repo`` over ssh, trusting the server's host key, without a key yet."""
    return {'repo': ssh_server.url(ssh_repo), 'known_hosts': ssh_server.known_hosts, 'cache_dir': cache_dir,
            'pool': 'aws', 'holder': 'alice'}


@pytest.fixture
def http_repo(http_server, tmp_path):
    return make_lock_repo(os.path.join(http_server.root, tmp_path.name + '.git'), {'aws': {'env-1': 'region: eu-west-1\n'}})


@pytest.fixture
def http_args(http_server, http_repo, http_user, cache_dir):
    """pool_lock options that reach ``http_repo`` over http as ``http_user``, without a password yet."""
    return {'repo': http_server.url(os.path.basename(http_repo)), 'username': http_user, 'cache_dir': cache_dir,
            'pool': 'aws', 'holder': 'alice'}


def timed_pool_lock(args, env=None):
    started = time.monotonic()
    result = run_module('pool_lock', args, env=env)
    return result, time.monotonic() - started


def assert_fails_quickly(args, *expected):
    """The task fails within FAILS_WITHIN seconds with a message that contains every ``expected`` text."""
    result, elapsed = timed_pool_lock(args)
    assert result.get('failed'), result
    for text in expected:
        assert text in result['msg']
    assert elapsed < FAILS_WITHIN
    return result


# -- ssh ------------------------------------------------------------------------------------------

def test_claim_and_release_over_ssh_with_private_key_text(ssh_args, ssh_repo, keys):
    args = dict(ssh_args, private_key=read(keys.authorized))
    claimed = run_module('pool_lock', args)
    assert claimed['acquired'] and pool_state(ssh_repo, 'aws')['claimed'] == ['env-1']
    released = run_module('pool_lock', dict(args, name='env-1', state='released'))
    assert released['changed'] and pool_state(ssh_repo, 'aws')['claimed'] == []


def test_claim_over_ssh_with_private_key_file(ssh_args, ssh_repo, keys):
    result = run_module('pool_lock', dict(ssh_args, private_key_file=keys.authorized))
    assert result['acquired'] and pool_state(ssh_repo, 'aws')['claimed'] == ['env-1']


def test_claim_over_ssh_with_passphrase_protected_key(ssh_args, ssh_repo, keys):
    result = run_module('pool_lock', dict(ssh_args, private_key=read(keys.protected), private_key_passphrase=PASSPHRASE))
    assert result['acquired'] and pool_state(ssh_repo, 'aws')['claimed'] == ['env-1']


def test_known_hosts_may_be_a_file(ssh_args, ssh_repo, keys, tmp_path):
    known_hosts = tmp_path / 'known_hosts'
    known_hosts.write_text(ssh_args['known_hosts'])
    result = run_module('pool_lock', dict(ssh_args, known_hosts=str(known_hosts), private_key_file=keys.authorized))
    assert result['acquired']
    assert known_hosts.read_text() == ssh_args['known_hosts']


def test_unknown_host_is_trusted_with_accept_new_host_keys(ssh_args, ssh_repo, keys):
    args = dict(ssh_args, known_hosts=None, accept_new_host_keys=True, private_key_file=keys.authorized)
    result = run_module('pool_lock', args)
    assert result['acquired']


def test_wrong_key_fails_with_permission_denied(ssh_args, ssh_repo, keys):
    assert_fails_quickly(dict(ssh_args, private_key_file=keys.stranger), 'permission denied (publickey)')
    assert pool_state(ssh_repo, 'aws')['claimed'] == []


def test_wrong_passphrase_fails_with_permission_denied(ssh_args, keys):
    args = dict(ssh_args, private_key_file=keys.protected, private_key_passphrase=WRONG_PASSPHRASE)
    assert_fails_quickly(args, 'permission denied (publickey)', 'private_key_passphrase')


def test_unknown_host_fails_with_host_key_verification(ssh_args, keys):
    args = dict(ssh_args, known_hosts=None, private_key_file=keys.authorized)
    assert_fails_quickly(args, 'host key verification failed', 'known_hosts', 'accept_new_host_keys')


def test_changed_host_key_fails_even_with_accept_new_host_keys_saying_the_key_changed(ssh_args, ssh_server, keys):
    impostor = '[127.0.0.1]:%d %s\n' % (ssh_server.port, ' '.join(read(keys.stranger + '.pub').split()[:2]))
    args = dict(ssh_args, known_hosts=impostor, accept_new_host_keys=True, private_key_file=keys.authorized)
    result = assert_fails_quickly(args, "the server's host key has changed", 'put that key in known_hosts',
                                  'Host key for [127.0.0.1]:%d has changed' % ssh_server.port)
    assert 'set accept_new_host_keys' not in result['msg']


def test_private_key_that_ssh_cannot_load_is_said_to_be_unreadable_not_refused(ssh_args, ssh_repo, keys):
    lines = read(keys.authorized).splitlines()
    cut_short = '\n'.join(lines[:2] + lines[-1:]) + '\n'
    result = assert_fails_quickly(dict(ssh_args, private_key=cut_short),
                                  'the private key cannot be read', 'Load key')
    assert 'permission denied' not in result['msg']
    assert pool_state(ssh_repo, 'aws')['claimed'] == []


def test_ssh_server_down_fails_with_connection_refused(ssh_args, ssh_server, keys):
    repo = ssh_args['repo'].replace(':%d/' % ssh_server.port, ':%d/' % free_port())
    args = dict(ssh_args, repo=repo, private_key_file=keys.authorized)
    assert_fails_quickly(args, 'connection refused')


def test_accepted_host_key_is_not_written_to_the_users_known_hosts(ssh_args, ssh_server, keys):
    users_known_hosts = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, '.ssh', 'known_hosts')
    args = dict(ssh_args, known_hosts=None, accept_new_host_keys=True, private_key_file=keys.authorized)
    assert run_module('pool_lock', args)['acquired']
    if os.path.exists(users_known_hosts):
        assert '[127.0.0.1]:%d' % ssh_server.port not in read(users_known_hosts)


def test_credential_files_are_removed_after_success_and_failure(ssh_args, keys, tmp_path):
    temp = tmp_path / 'tmp'
    temp.mkdir()
    args = dict(ssh_args, private_key=read(keys.protected), private_key_passphrase=PASSPHRASE)
    assert run_module('pool_lock', args, env={'TMPDIR': str(temp)})['acquired']
    assert run_module('pool_lock', dict(args, private_key_passphrase=WRONG_PASSPHRASE), env={'TMPDIR': str(temp)})['failed']
    assert os.listdir(temp) == []


# -- http ------------------------------------------------------------------------------------------

def test_claim_and_release_over_http_with_password(http_args, http_repo):
    args = dict(http_args, password=PASSWORD)
    claimed = run_module('pool_lock', args)
    assert claimed['acquired'] and pool_state(http_repo, 'aws')['claimed'] == ['env-1']
    released = run_module('pool_lock', dict(args, name='env-1', state='released'))
    assert released['changed'] and pool_state(http_repo, 'aws')['claimed'] == []


def test_wrong_password_fails_with_authentication_failed(http_args, http_repo):
    assert_fails_quickly(dict(http_args, password=WRONG_PASSWORD), 'authentication failed')
    assert pool_state(http_repo, 'aws')['claimed'] == []


def test_missing_password_fails_with_authentication_failed(http_args):
    assert_fails_quickly(http_args, 'authentication failed')


def test_password_option_wins_over_the_users_netrc(http_args, http_user, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    (home / '.netrc').write_text('machine 127.0.0.1 login %s password %s\n' % (http_user, PASSWORD))
    result = run_module('pool_lock', dict(http_args, password=WRONG_PASSWORD), env={'HOME': str(home)})
    assert result['failed'] and 'authentication failed' in result['msg']


def test_push_refused_with_403_says_the_credentials_may_read_but_not_write_and_is_tried_once(http_server, http_args, http_repo):
    reader = READ_ONLY_PREFIX + 'carol'
    http_server.add_user(reader, PASSWORD)
    result = assert_fails_quickly(dict(http_args, username=reader, password=PASSWORD),
                                  'cannot push to lock repository', 'the credentials may read but not write', '403')
    assert 'authentication failed' not in result['msg']
    assert pool_state(http_repo, 'aws')['claimed'] == []
    pushes = [status for request, status in http_server.responses(reader) if 'git-receive-pack' in request]
    assert pushes == [403]


def test_http_server_down_fails_with_connection_refused(http_args):
    assert_fails_quickly(dict(http_args, repo='http://127.0.0.1:%d/locks.git' % free_port(), password=PASSWORD),
                         'connection refused')


# -- options given wrongly change nothing ------------------------------------------------------------

@pytest.mark.parametrize('options, message', [
    ({'private_key': 'SENTINEL-NOT-A-KEY-91c0'}, 'private_key is not a private key'),
    ({'private_key_file': '/nonexistent/id_ed25519'}, 'cannot read private_key_file /nonexistent/id_ed25519'),
    ({'known_hosts': '/nonexistent/known_hosts'}, 'known_hosts must be a readable file or known_hosts lines'),
    ({'git_config': {'sslVerify': 'false'}}, "git_config key 'sslVerify' is not a git config key"),
], ids=['private_key', 'private_key_file', 'known_hosts', 'git_config'])
def test_bad_credential_option_fails_clearly_and_changes_nothing(ssh_args, ssh_repo, options, message):
    commits = commit_count(ssh_repo)
    result = run_module('pool_lock', dict(ssh_args, **options))
    assert result['failed'] and message in result['msg']
    assert 'SENTINEL-NOT-A-KEY-91c0' not in json.dumps(result)
    assert commit_count(ssh_repo) == commits


def test_private_key_and_private_key_file_are_mutually_exclusive(ssh_args, keys):
    result = run_module('pool_lock', dict(ssh_args, private_key=read(keys.authorized), private_key_file=keys.authorized))
    assert result['failed'] and 'mutually exclusive' in result['msg']


# -- git_config -------------------------------------------------------------------------------------

def test_git_config_applies_to_the_engines_git_commands_only(aws_repo, cache_dir):
    args = {'repo': 'locks:', 'git_config': {'url.%s.insteadOf' % aws_repo: 'locks:'}, 'cache_dir': cache_dir,
            'pool': 'aws', 'name': 'env-1', 'holder': 'alice'}
    result = run_module('pool_lock', args)
    assert result['acquired'] and pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    for config in _files_named(cache_dir, 'config'):
        assert 'insteadOf' not in read(config)


# -- the same playbook over ssh and over http, credentials injected as AWX does -----------------------

PLAYBOOK = '''
- name: Hold a lock of the aws pool
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Claim any free lock
      lockpool.git.pool_lock:
        pool: aws
        holder: playbook
      register: claim

    - name: Release it
      lockpool.git.pool_lock:
        pool: aws
        name: "{{ claim.lock.name }}"
        holder: playbook
        state: released
'''


@pytest.fixture(params=['ssh-key', 'http-password'])
def awx_credential(request, ssh_server, ssh_repo, keys, http_server, http_repo, http_user, cache_dir):
    """(repository, environment an AWX custom credential injects: every field, empty when not filled in)."""
    env = dict.fromkeys(['LOCKPOOL_PRIVATE_KEY', 'LOCKPOOL_PRIVATE_KEY_PASSPHRASE', 'LOCKPOOL_KNOWN_HOSTS',
                         'LOCKPOOL_USERNAME', 'LOCKPOOL_PASSWORD'], '')
    env['LOCKPOOL_CACHE_DIR'] = cache_dir
    if request.param == 'ssh-key':
        env.update(LOCKPOOL_REPO=ssh_server.url(ssh_repo), LOCKPOOL_PRIVATE_KEY=read(keys.protected),
                   LOCKPOOL_PRIVATE_KEY_PASSPHRASE=PASSPHRASE, LOCKPOOL_KNOWN_HOSTS=ssh_server.known_hosts)
        return ssh_repo, env
    env.update(LOCKPOOL_REPO=http_server.url(os.path.basename(http_repo)), LOCKPOOL_USERNAME=http_user,
               LOCKPOOL_PASSWORD=PASSWORD)
    return http_repo, env


def test_same_playbook_claims_and_releases_with_credentials_from_the_environment(awx_credential, tmp_path):
    repo, env = awx_credential
    playbook = tmp_path / 'hold.yml'
    playbook.write_text(PLAYBOOK)
    completed = run_playbook(playbook, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    messages = git('log', '-2', '--format=%s', 'refs/heads/main', cwd=repo).splitlines()
    assert messages == ['unclaiming: env-1', 'claiming: env-1']
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}


# -- leak scan ------------------------------------------------------------------------------------------

def _files_named(top, name=None):
    for directory, _dirs, files in os.walk(top):
        for file_name in files:
            if name is None or file_name == name:
                yield os.path.join(directory, file_name)


LEAK_CASES = {
    'ssh-key': lambda keys, url: {'private_key': read(keys.authorized)},
    'ssh-passphrase-key': lambda keys, url: {'private_key': read(keys.protected), 'private_key_passphrase': PASSPHRASE},
    'ssh-wrong-passphrase': lambda keys, url: {'private_key': read(keys.protected), 'private_key_passphrase': WRONG_PASSPHRASE},
    'ssh-wrong-key': lambda keys, url: {'private_key': read(keys.stranger)},
    'http-password': lambda keys, url: {'password': PASSWORD},
    'http-wrong-password': lambda keys, url: {'password': WRONG_PASSWORD},
    'http-password-in-url': lambda keys, url: {'repo': url.replace('http://', 'http://alice:%s@' % PASSWORD)},
}


@pytest.mark.parametrize('case', sorted(LEAK_CASES))
def test_secrets_never_leak(case, keys, ssh_args, ssh_repo, http_args, http_repo, cache_dir, tmp_path):
    base_args, repo = (ssh_args, ssh_repo) if case.startswith('ssh') else (http_args, http_repo)
    args = dict(base_args, **LEAK_CASES[case](keys, base_args['repo']))
    result = run_module('pool_lock', args)
    playbook = tmp_path / 'leak.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False,
                                     'tasks': [{'lockpool.git.pool_lock': dict(args, name='env-1', state='released')}]}]))
    completed = run_playbook(playbook, verbosity=3)
    assert ('wrong' in case) == bool(result.get('failed')) == (completed.returncode != 0)
    places = {'module result': json.dumps(result), 'ansible-playbook -vvv output': completed.stdout + completed.stderr,
              'commit messages': git('log', '--all', '--format=%B', cwd=repo)}
    for path in _files_named(cache_dir):
        with open(path, 'rb') as handle:
            places[path] = handle.read().decode('utf-8', 'replace')
    for secret in [PASSWORD, WRONG_PASSWORD, PASSPHRASE, WRONG_PASSPHRASE] + keys.secret_lines():
        for place, text in places.items():
            assert secret not in text, '%s leaked into %s' % (secret[:20], place)


# -- while git runs: no secret on a command line, in an environment, or in a file but a private one ------

HOLD_PUSH_HOOK = '''#!/bin/sh
# Holds the push, and with it every git process of the client, until the test has looked at them (30 s at most).
touch pushing
for _ in $(seq 300); do [ -e released ] && exit 0; sleep 0.1; done
exit 1
'''


def _with_userinfo(args, userinfo):
    """``args`` with ``userinfo`` written into the repository's URL, and no username option."""
    return dict(args, username=None, repo=args['repo'].replace('://', '://%s@' % userinfo))


def _user_and_password_in_url(secret, fixture):
    fixture('http_server').add_user('robot', secret)
    return _with_userinfo(fixture('http_args'), 'robot:' + quote(secret, safe='')), fixture('http_repo')


def _token_in_url(secret, fixture):
    fixture('http_server').add_user(secret, '')
    return _with_userinfo(fixture('http_args'), quote(secret, safe='')), fixture('http_repo')


def _password_option(secret, fixture):
    fixture('http_server').add_user('robot', secret)
    return dict(fixture('http_args'), username='robot', password=secret), fixture('http_repo')


def _key_passphrase(secret, fixture):
    key = make_key(fixture('tmp_path') / 'key', passphrase=secret)
    fixture('ssh_server').authorize(key + '.pub')
    return dict(fixture('ssh_args'), private_key_file=key, private_key_passphrase=secret), fixture('ssh_repo')


SECRET_CASES = {
    'user-and-password-in-url': _user_and_password_in_url,
    'token-in-url': _token_in_url,
    'password-option': _password_option,
    'key-passphrase': _key_passphrase,
}


def hold_pushes(repo):
    hook = os.path.join(repo, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write(HOLD_PUSH_HOOK)
    os.chmod(hook, 0o755)


def wait_for_push(running, marker, limit=60):
    """Wait until the server's hook holds the run's push."""
    deadline = time.monotonic() + limit
    while not os.path.exists(marker):
        assert running.process.poll() is None, 'the run ended without pushing: %s' % (running.result(),)
        assert time.monotonic() < deadline, 'no push reached the server'
        time.sleep(0.01)


def _parent(pid):
    with open('/proc/%d/stat' % pid) as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[1])


def _read_proc(pid, part):
    try:
        with open('/proc/%d/%s' % (pid, part), 'rb') as handle:
            return handle.read()
    except OSError:  # another user's environment, or a process that has just ended
        return b''


def process_texts(run_pid):
    """The command line and environment of every process, by ``'<pid> cmdline|environ'``, but the test's servers'.

    The servers stand for another machine (git http-backend hands the user name it let in to receive-pack and
    its hooks): they are the processes this test started, other than the run ``run_pid`` and its own.
    """
    parents = {}
    for pid in map(int, filter(str.isdigit, os.listdir('/proc'))):
        try:
            parents[pid] = _parent(pid)
        except (OSError, IndexError, ValueError):
            pass

    def is_server(pid):
        while pid in parents and pid != run_pid:
            pid = parents[pid]
            if pid == os.getpid():
                return True
        return False
    return {'%d %s' % (pid, part): _read_proc(pid, part) for pid in parents if not is_server(pid)
            for part in ('cmdline', 'environ')}


def files_holding(forms, top):
    """Files under ``top`` whose bytes hold any of ``forms``, with their directory's and their own mode."""
    found = {}
    for path in _files_named(top):
        with open(path, 'rb') as handle:
            if any(form in handle.read() for form in forms):
                found[path] = (stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), stat.S_IMODE(os.stat(path).st_mode))
    return found


@pytest.mark.parametrize('case', sorted(SECRET_CASES))
def test_secrets_are_on_no_command_line_in_no_environment_and_in_no_file_but_a_private_one(case, request, cache_dir, tmp_path):
    # Unique, so that no other process can hold it; its '@' is written %40 in a URL, which git decodes.
    secret = 'SENTINEL-%s-%s@x' % (case, uuid.uuid4().hex)
    forms = [secret.encode(), quote(secret, safe='').encode()]
    args, repo = SECRET_CASES[case](secret, request.getfixturevalue)
    hold_pushes(repo)
    temp, trace = tmp_path / 'tmp', tmp_path / 'trace2.json'
    temp.mkdir()
    # git's trace2 records the command line of every git process and of every process git starts, however brief
    # (an askpass helper's prompt); newer gits would redact a URL's password there, unless told not to.
    env = {'TMPDIR': str(temp), 'GIT_TRACE2_EVENT': str(trace), 'GIT_TRACE2_REDACT': '0'}
    running = start_module('pool_lock', args, env=env)
    try:
        wait_for_push(running, os.path.join(repo, 'pushing'))
        processes = process_texts(running.process.pid)
        private_files = files_holding(forms, temp)
    finally:
        open(os.path.join(repo, 'released'), 'w').close()
    result = running.result()

    assert result['acquired'] and pool_state(repo, 'aws')['claimed'] == ['env-1']
    assert any(b'push' in text and os.path.basename(repo).encode() in text
               for place, text in processes.items() if place.endswith('cmdline')), 'git push was not seen running'
    assert [place for place, text in processes.items() if any(form in text for form in forms)] == []
    traced = trace.read_bytes()
    assert b'"child_start"' in traced and [form for form in forms if form in traced] == []
    assert list(private_files.values()) == [(0o700, 0o600)], private_files
    assert files_holding(forms, cache_dir) == {} and os.listdir(temp) == []

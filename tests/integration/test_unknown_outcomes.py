"""A push whose answer never came is settled with the server before the task reports: what it says is what the server holds.

The servers are real (git daemon, sshd, nginx + git http-backend); a pre-receive hook slower than the task's
timeout makes the answer come too late: git kills our push, while the server goes on and may apply it.
"""

import os
import time

import pytest

from support.modules import run_module
from support.repos import git, head, make_lock_repo, pool_state
from support.ssh_server import make_key

HOLD = 4  # seconds the hook holds every push: more than the tasks' timeout
TIMEOUT = 2


def slow_hook(repo, then='exit 0'):
    """Every push to ``repo`` waits HOLD seconds in its pre-receive hook, then ``then`` decides it."""
    hook = os.path.join(repo, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\ncat >/dev/null\nsleep %d\n%s\n' % (HOLD, then))
    os.chmod(hook, 0o755)


def settled(repo):
    """The pool once every push the server still works on has been decided (none outlives its hook)."""
    time.sleep(HOLD + 2)
    return pool_state(repo, 'aws')


@pytest.fixture
def daemon_repo(git_daemon, tmp_path):
    name = 'unknown-%s.git' % tmp_path.name
    repo = make_lock_repo(os.path.join(git_daemon.base, name), {'aws': {'env-1': 'a'}})
    return repo, {'repo': git_daemon.url(name), 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'holder': 'alice'}


@pytest.fixture
def ssh_repo(ssh_server, tmp_path):
    repo = make_lock_repo(str(tmp_path / 'ssh-locks.git'), {'aws': {'env-1': 'a'}})
    key = make_key(str(tmp_path / 'id'))
    ssh_server.authorize(key + '.pub')
    return repo, {'repo': ssh_server.url(repo), 'known_hosts': ssh_server.known_hosts, 'private_key_file': key,
                  'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'holder': 'alice'}


@pytest.fixture
def http_repo(http_server, tmp_path):
    name = 'unknown-%s.git' % tmp_path.name
    repo = make_lock_repo(os.path.join(http_server.root, name), {'aws': {'env-1': 'a'}})
    http_server.add_user('writer', 'pushes-slowly')
    return repo, {'repo': http_server.url(name), 'username': 'writer', 'password': 'pushes-slowly',
                  'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'holder': 'alice'}


SERVERS = ['daemon_repo', 'ssh_repo', 'http_repo']


@pytest.mark.parametrize('server', SERVERS)
def test_a_claim_the_server_applies_after_the_timeout_is_reported_as_claimed(server, request):
    repo, args = request.getfixturevalue(server)
    slow_hook(repo)
    result = run_module('pool_lock', dict(args, name='env-1', timeout=TIMEOUT))
    assert result.get('acquired') is True, result
    assert result['commit'] == head(repo)
    assert settled(repo)['claimed'] == ['env-1']


def test_a_claim_the_server_refuses_after_the_timeout_fails_and_holds_nothing(daemon_repo):
    repo, args = daemon_repo
    slow_hook(repo, then='exit 1')
    result = run_module('pool_lock', dict(args, name='env-1', timeout=TIMEOUT))
    assert result.get('failed'), result
    assert 'has not applied the push' in result['msg']
    assert settled(repo)['claimed'] == []


def test_a_release_the_server_applies_after_the_timeout_is_reported_as_released(daemon_repo):
    repo, args = daemon_repo
    assert run_module('pool_lock', dict(args, name='env-1'))['acquired']
    slow_hook(repo)
    result = run_module('pool_lock', dict(args, name='env-1', state='released', timeout=TIMEOUT))
    assert result.get('changed') is True and not result.get('failed'), result
    assert settled(repo)['claimed'] == []


def test_an_add_the_server_applies_after_the_timeout_is_reported_as_added(daemon_repo):
    repo, args = daemon_repo
    slow_hook(repo)
    result = run_module('pool_lock', dict(args, name='env-2', state='present', timeout=TIMEOUT))
    assert result.get('changed') is True and not result.get('failed'), result
    assert settled(repo)['unclaimed'] == ['env-1', 'env-2']


def test_a_claim_the_server_still_holds_is_fenced_off_and_never_lands_after_the_task_failed(daemon_repo):
    """The hook holds the claim's push long, and lets later pushes through: the fence lands first, the claim never."""
    repo, args = daemon_repo
    hook = os.path.join(repo, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\ncat >/dev/null\nif mkdir "%s.held" 2>/dev/null; then sleep %d; fi\n' % (repo, 2 * HOLD))
    os.chmod(hook, 0o755)
    result = run_module('pool_lock', dict(args, name='env-1', timeout=TIMEOUT))
    assert result.get('failed') and 'never will' in result['msg'], result
    time.sleep(2 * HOLD + 2)
    assert pool_state(repo, 'aws')['claimed'] == []
    assert git('--git-dir', repo, 'log', '-1', '--format=%s', 'main').startswith('lockpool: fence')

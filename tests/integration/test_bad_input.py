"""Bad input: a clear error that names the problem, and nothing pushed."""

import pytest

from support.modules import run_module
from support.repos import head
from support.servers import free_port

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


@pytest.mark.parametrize('args, message', [
    ({'name': '../x'}, "lock name '../x' must not contain a path separator"),
    ({'name': 'a/b'}, "lock name 'a/b' must not contain a path separator"),
    ({'name': '.hidden'}, "lock name '.hidden' must not start with a dot"),
    ({'name': ''}, 'lock name must not be empty'),
    ({'pool': '..'}, "pool name '..' must not start with a dot"),
    ({'pool': 'a/b'}, "pool name 'a/b' must not contain a path separator"),
    ({'pool': 'gcp'}, "pool 'gcp' does not exist"),
    ({'name': 'env-1', 'state': 'present', 'metadata': 'a\x00b'}, 'metadata must be text: it contains a NUL byte'),
    ({'timeout': 'soon'}, "timeout must be a duration such as 10s, 90m or 1h, got 'soon'"),
    ({'holder': 'eve\nLock-Holder: alice'}, 'holder must be 1 to 256 characters without control characters'),
    ({'branch': 'no..dots'}, "branch 'no..dots' is not a valid git branch name"),
])
def test_bad_input_fails_clearly_and_pushes_nothing(aws_repo, lock_args, args, message):
    before = head(aws_repo)
    result = run_module('pool_lock', dict(lock_args, **args))
    assert result['failed'] and result['rc'] != 0
    assert message in result['msg']
    assert 'Traceback' not in result['stderr']
    assert head(aws_repo) == before


@pytest.mark.parametrize('state', ['released', 'present', 'absent'])
def test_name_is_required_except_to_acquire(lock_args, state):
    result = run_module('pool_lock', dict(lock_args, state=state))
    assert result['failed']
    assert 'name' in result['msg']


def test_missing_branch_is_a_clear_error(aws_repo, lock_args):
    result = run_module('pool_lock', dict(lock_args, branch='nope'))
    assert result['failed']
    assert result['msg'] == "branch 'nope' does not exist in lock repository %s" % aws_repo


@pytest.mark.parametrize('repo, git_says', [
    (lambda tmp_path: str(tmp_path / 'missing.git'), 'does not appear to be a git repository'),
    (lambda tmp_path: 'git://127.0.0.1:%d/locks.git' % free_port(), 'Connection refused'),
], ids=['missing-local-repository', 'unreachable-server'])
def test_a_repository_that_cannot_be_read_is_a_clear_error(tmp_path, cache_dir, repo, git_says):
    url = repo(tmp_path)
    result = run_module('pool_lock', {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws'})
    assert result['failed']
    assert result['msg'].startswith('cannot fetch lock repository %s: ' % url)
    assert git_says in result['msg']


def test_credentials_in_the_url_never_appear_in_the_error(cache_dir):
    url = 'http://robot:s3cr3t-token@127.0.0.1:%d/locks.git' % free_port()
    result = run_module('pool_lock', {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws'})
    assert result['failed']
    assert 's3cr3t-token' not in result['msg'] and 's3cr3t-token' not in result['stderr']
    assert 'http://***@127.0.0.1' in result['msg']

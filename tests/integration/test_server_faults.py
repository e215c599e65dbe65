"""Server faults: a clear error within the task's timeout, nothing changed, and the next run works.

The upper bounds on time are correctness bounds ("fails within the timeout"), generous enough for a loaded
2-core machine: a Python start-up and a few git commands on top of the timeout itself.
"""

import os
import subprocess
import time

import pytest

from support.modules import module_command, module_env, run_module, write_module_args
from support.repos import head, make_lock_repo, pool_state
from support.servers import GitDaemon, StallingProxy

from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import SETTLE_TIMEOUT

SLACK = 25


@pytest.fixture
def proxy(git_daemon, request):
    make_lock_repo(os.path.join(git_daemon.base, request.node.name + '.git'), {'aws': {'env-1': 'a', 'env-2': 'b'}})
    proxy = StallingProxy(git_daemon.port)
    yield proxy
    proxy.close()


def timed_run(args):
    started = time.monotonic()
    result = run_module('pool_lock', args)
    return result, time.monotonic() - started


def test_a_server_that_never_answers_fails_within_the_timeout(proxy, git_daemon, cache_dir, request):
    url = proxy.url(request.node.name + '.git')
    args = {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1', 'holder': 'alice', 'timeout': 3}
    proxy.stall()

    result, took = timed_run(args)

    assert result['failed']
    assert result['msg'].startswith('cannot fetch lock repository %s: no answer within ' % url)
    assert took < 3 + SLACK
    print('stalled server: failed after %.1fs with timeout 3s' % took)
    proxy.resume()
    assert run_module('pool_lock', args)['acquired']


def test_a_push_the_server_never_answers_fails_as_unknown_once_it_cannot_be_settled_and_lands_nothing(proxy, git_daemon, cache_dir, request):
    url = proxy.url(request.node.name + '.git')
    repo = os.path.join(git_daemon.base, request.node.name + '.git')
    # Not fair: the fetch is the one connection before the push (a fair claim reads the queue in between).
    args = {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1', 'holder': 'alice', 'timeout': 4, 'fair': False}
    before = head(repo)
    proxy.stall(after=1)

    result, took = timed_run(args)

    assert result['failed']
    assert result['msg'].startswith('cannot push to lock repository %s: no answer within ' % url)
    assert 'whether it landed is unknown' in result['msg']
    assert took < 4 + SETTLE_TIMEOUT + SLACK
    print('stalled push: failed after %.1fs with timeout 4s, settling included' % took)
    assert head(repo) == before
    proxy.resume()
    assert run_module('pool_lock', args)['acquired']
    assert pool_state(repo, 'aws')['claimed'] == ['env-1']


def test_a_server_stopped_while_a_run_waits_fails_clearly_and_works_once_restarted(tmp_path, cache_dir):
    daemon = GitDaemon(tmp_path / 'served')
    os.makedirs(daemon.base)
    repo = make_lock_repo(os.path.join(daemon.base, 'locks.git'), {'aws': {'env-1': 'a'}})
    daemon.start()
    try:
        args = {'repo': daemon.url('locks.git'), 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1'}
        assert run_module('pool_lock', dict(args, holder='alice'))['acquired']
        path = write_module_args(dict(args, holder='bob', timeout=120, retry_delay='0.2s'))
        waiting = subprocess.Popen(module_command('pool_lock', path), stdout=subprocess.PIPE, text=True, env=module_env())
        time.sleep(2)
        daemon.stop()
        stopped = time.monotonic()
        output = waiting.communicate(timeout=120)[0]
        took = time.monotonic() - stopped
        os.unlink(path)

        assert waiting.returncode != 0
        assert 'cannot read lock repository %s: ' % args['repo'] in output and 'Connection refused' in output
        assert took < SLACK
        print('stopped server: the waiting run failed %.1fs after the stop' % took)
        daemon.start()
        assert run_module('pool_lock', dict(args, holder='alice', state='released'))['changed']
        assert run_module('pool_lock', dict(args, holder='bob'))['acquired']
        assert pool_state(repo, 'aws') == {'claimed': ['env-1'], 'unclaimed': []}
    finally:
        daemon.stop()

"""The fair queue: waiters served in arrival order, tickets kept in refs outside the branch."""

import json
import math
import os
import subprocess
import time

from support.modules import PYTHON, module_env, run_module, start_module, warning_texts
from support.repos import commit_count, git, head, make_lock_repo, pool_state
from support.load import CONTENDER
from support.servers import GitDaemon

from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote
from ansible_collections.lockpool.git.plugins.module_utils._queue import HEAD_LOOK_EVERY, RENEW_AFTER
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import RepoCache

QUEUE = 'refs/lockpool/queue/main/aws/'


def tickets(repo):
    return git('for-each-ref', '--format=%(refname)', QUEUE, cwd=repo).split()


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met within %ss' % timeout
        time.sleep(0.05)


def put_ticket(repo, arrival_ms, expires, wanted=1):
    git('update-ref', '%s%d-abcdef-%d-%d' % (QUEUE, arrival_ms, wanted, expires), head(repo), cwd=repo)


def start_fair_claimer(holder_id, url, tmp_path, log, retry_delay):
    args = {'repo': url, 'pool': 'aws', 'cache_dir': str(tmp_path / ('cache-%s' % holder_id)), 'fair': True,
            'timeout': 120, 'retry_delay': retry_delay}
    return subprocess.Popen([PYTHON, CONTENDER, holder_id, '1', log, json.dumps(args)], env=module_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_earliest_waiter_is_served_before_a_stream_of_faster_newcomers(git_daemon, tmp_path):
    repo = make_lock_repo(os.path.join(git_daemon.base, 'fair.git'), {'aws': {'env-1': 'a'}})
    url = git_daemon.url('fair.git')
    blocker = {'repo': url, 'pool': 'aws', 'cache_dir': str(tmp_path / 'blocker'), 'name': 'env-1', 'holder': 'blocker'}
    run_module('pool_lock', blocker)
    log = str(tmp_path / 'events.log')
    # The first waiter looks at the server every 3s; the newcomers every 0.2s: without the queue they win.
    arrivals = ['first', 'n1', 'n2', 'n3', 'n4']
    processes = []
    for holder_id in arrivals:
        processes.append(start_fair_claimer(holder_id, url, tmp_path, log, '3s' if holder_id == 'first' else '0.2s'))
        wait_until(lambda: len(tickets(repo)) == len(processes))
    run_module('pool_lock', dict(blocker, state='released'))
    outputs = [process.communicate(timeout=180)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes), outputs
    with open(log) as handle:
        served = [line.split()[2] for line in handle if line.startswith('enter')]
    assert served == arrivals
    assert tickets(repo) == []


def test_a_claim_that_finds_a_free_lock_and_an_empty_queue_pushes_only_its_commit(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = run_module('pool_lock', dict(lock_args, holder='alice', fair=True))
    assert result['acquired'] and commit_count(aws_repo) == commits + 1
    assert tickets(aws_repo) == []


def test_an_older_live_ticket_keeps_a_newcomer_from_the_free_lock(aws_repo, lock_args, tmp_path):
    # bob on another machine: a run on alice's would leave her a view of the queue (QUEUE_VIEW_AGE) without the ticket
    run_module('pool_lock', dict(lock_args, name='env-1', holder='bob', cache_dir=str(tmp_path / 'bob-cache')))
    put_ticket(aws_repo, arrival_ms=int(time.time() * 1000) - 1000, expires=int(time.time()) + 60)
    result = run_module('pool_lock', dict(lock_args, holder='alice', fair=True, wait=False))
    assert not result['acquired']
    assert result['waiting_for'] == 'earlier waiters of the fair queue want 1 lock of pool aws first'
    assert pool_state(aws_repo, 'aws')['unclaimed'] == ['env-2']


def test_an_expired_ticket_of_a_crashed_waiter_blocks_nobody_and_is_cleaned_up(aws_repo, lock_args):
    put_ticket(aws_repo, arrival_ms=int(time.time() * 1000) - 120000, expires=int(time.time()) - 1)
    result = run_module('pool_lock', dict(lock_args, holder='alice', fair=True))
    assert result['acquired']
    assert tickets(aws_repo) == []


def test_a_claim_is_fair_unless_told_otherwise(aws_repo, lock_args):
    put_ticket(aws_repo, arrival_ms=int(time.time() * 1000) - 1000, expires=int(time.time()) + 60, wanted=2)
    result = run_module('pool_lock', dict(lock_args, holder='alice', wait=False))
    assert not result['acquired']
    assert result['waiting_for'] == 'earlier waiters of the fair queue want 2 locks of pool aws first'


def test_a_claimer_with_fair_false_ignores_the_queue(aws_repo, lock_args):
    put_ticket(aws_repo, arrival_ms=int(time.time() * 1000) - 1000, expires=int(time.time()) + 60, wanted=2)
    result = run_module('pool_lock', dict(lock_args, holder='alice', fair=False, wait=False))
    assert result['acquired']


def test_a_server_that_refuses_queue_refs_gets_an_unfair_claim_and_a_warning(aws_repo, lock_args):
    refuse_queue_refs(aws_repo)
    run_module('pool_lock', dict(lock_args, count=2, holder='bob'))
    waiting = start_module('pool_lock', dict(lock_args, holder='alice', timeout='60s', retry_delay='0.2s'))
    wait_until(lambda: os.path.exists(os.path.join(str(aws_repo), 'refused-refs')))
    run_module('pool_lock', dict(lock_args, name='env-1', holder='bob', state='released'))
    result = waiting.result(60)
    assert result['acquired'] and result['lock']['name'] == 'env-1'
    assert any('refused the fair-queue ticket' in warning for warning in warning_texts(result))
    assert tickets(aws_repo) == []


def test_a_waiter_leaves_the_queue_in_the_push_of_its_claim(aws_repo, lock_args):
    log_pushes(aws_repo)
    run_module('pool_lock', dict(lock_args, count=2, holder='bob'))
    waiting = start_module('pool_lock', dict(lock_args, holder='alice', timeout='60s', retry_delay='0.2s'))
    wait_until(lambda: len(tickets(aws_repo)) == 1)
    run_module('pool_lock', dict(lock_args, name='env-1', holder='bob', state='released'))
    assert waiting.result(60)['acquired']
    claim_push = pushes(aws_repo)[-1]
    assert [ref for _old, _new, ref in claim_push] == ['refs/heads/main', tickets_seen(aws_repo)[0]]
    assert claim_push[1][1] == '0' * 40
    assert tickets(aws_repo) == []


def log_pushes(repo):
    """Make the server record each push, one line per push, with the refs it changed and logged ticket names."""
    hook = os.path.join(str(repo), 'hooks', 'post-receive')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\nupdates=$(cat | tr "\\n" ";")\necho "$updates" >> pushes\n')
    os.chmod(hook, 0o755)


def pushes(repo):
    with open(os.path.join(str(repo), 'pushes')) as handle:
        return [[tuple(update.split()) for update in line.strip().split(';') if update] for line in handle]


def tickets_seen(repo):
    return [ref for push in pushes(repo) for _old, new, ref in push if ref.startswith(QUEUE) and new != '0' * 40]


def refuse_queue_refs(repo):
    hook = os.path.join(str(repo), 'hooks', 'update')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\ncase "$1" in refs/lockpool/*) echo "$1" >> refused-refs; exit 1;; esac\n')
    os.chmod(hook, 0o755)


def test_a_waiter_that_times_out_removes_its_ticket(aws_repo, lock_args):
    run_module('pool_lock', dict(lock_args, count=2, holder='bob'))
    result = run_module('pool_lock', dict(lock_args, holder='alice', fair=True, timeout='2s', retry_delay='0.2s'))
    assert result['failed'] and 'gave up after 2s' in result['msg']
    assert tickets(aws_repo) == []


def test_pool_lock_info_shows_the_live_tickets_of_the_queue_oldest_first(aws_repo, lock_args):
    now = int(time.time())
    put_ticket(aws_repo, arrival_ms=(now - 30) * 1000, expires=now + 600, wanted=2)
    put_ticket(aws_repo, arrival_ms=(now - 90) * 1000, expires=now - 1)
    info = run_module('pool_lock_info', {'repo': lock_args['repo'], 'cache_dir': lock_args['cache_dir']})
    assert info['pools']['aws']['queue'] == [dict(position=1, ticket='abcdef', arrived_at=utc(now - 30), wanted=2,
                                                  expires_at=utc(now + 600))]


def utc(timestamp):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp))


def test_the_waiters_of_one_machine_share_one_read_of_the_queue_for_its_max_age(aws_repo, cache_dir):
    remote = Remote(str(aws_repo), cache_dir=cache_dir)
    with RepoCache(remote) as first, RepoCache(remote) as second:
        assert first.remote_refs(QUEUE, max_age=60) == {}
        put_ticket(aws_repo, arrival_ms=int(time.time() * 1000), expires=int(time.time()) + 60)
        assert second.remote_refs(QUEUE, max_age=60) == {}
        time.sleep(0.1)
        assert list(second.remote_refs(QUEUE, max_age=0.05)) == tickets(aws_repo)


def test_the_waiters_of_one_machine_cost_the_server_one_look_per_interval_of_the_best_placed(tmp_path):
    # Four fair waiters share a cache (one machine), every option at its default; the git daemon logs each request.
    daemon = GitDaemon(tmp_path / 'served', log=str(tmp_path / 'daemon.log'))
    os.makedirs(daemon.base)
    repo = make_lock_repo(os.path.join(daemon.base, 'locks.git'), {'aws': {'env-1': 'a'}})
    daemon.start()
    try:
        url = daemon.url('locks.git')
        run_module('pool_lock', {'repo': url, 'pool': 'aws', 'cache_dir': str(tmp_path / 'holder'), 'name': 'env-1', 'holder': 'holder'})
        waiters = []
        for index in range(4):
            waiters.append(start_module('pool_lock', {'repo': url, 'pool': 'aws', 'cache_dir': str(tmp_path / 'machine'),
                                                      'holder': 'waiter-%d' % index, 'timeout': '2m'}))
            wait_until(lambda: len(tickets(repo)) == len(waiters))
        counted, window = requests(daemon.log), 15
        time.sleep(window)
        made = requests(daemon.log) - counted
        for waiter in waiters:
            waiter.kill()
    finally:
        daemon.stop()
    renewals = len(waiters) * math.ceil(window / RENEW_AFTER)  # each waiter's ticket, renewed in one push
    assert made <= window / HEAD_LOOK_EVERY + 2 + renewals  # and one ls-remote per look of the head of the queue, for all


def requests(log):
    with open(log) as handle:
        return sum(1 for line in handle if ' Request ' in line)


def test_a_release_on_the_machine_is_claimed_at_once_by_the_second_waiter_there(aws_repo, lock_args):
    # The first waiter's claim deletes its ticket; the second, woken by the next release here, must not count it.
    run_module('pool_lock', dict(lock_args, count=2, holder='bob'))
    waiters = []
    for holder in ('alice', 'carol'):
        waiters.append(start_module('pool_lock', dict(lock_args, holder=holder, timeout='60s')))
        wait_until(lambda: len(tickets(aws_repo)) == len(waiters))
    run_module('pool_lock', dict(lock_args, name='env-1', holder='bob', state='released'))
    assert waiters[0].result(60)['acquired']
    run_module('pool_lock', dict(lock_args, name='env-2', holder='bob', state='released'))
    released = time.monotonic()
    # carol, second in line, looks at the server every 2 x HEAD_LOOK_EVERY: her view of the queue still shows alice's ticket
    assert waiters[1].result(60)['acquired'] and time.monotonic() - released < HEAD_LOOK_EVERY


# -- a waiter killed in the queue ------------------------------------------------------------------

def test_the_next_claimer_on_the_machine_of_a_sigkilled_waiter_takes_the_lock_it_waited_for(aws_repo, lock_args, tmp_path):
    bob = dict(lock_args, holder='bob', cache_dir=str(tmp_path / 'bob-cache'))
    run_module('pool_lock', dict(bob, count=2))
    killed = start_module('pool_lock', dict(lock_args, holder='alice', timeout='2m'))
    wait_until(lambda: len(tickets(aws_repo)) == 1)
    killed.kill()
    run_module('pool_lock', dict(bob, name='env-1', state='released'))
    result = run_module('pool_lock', dict(lock_args, holder='carol', wait=False))
    assert result['acquired'] and result['locks'][0]['name'] == 'env-1'
    assert tickets(aws_repo) == []


def test_a_waiter_on_another_machine_is_served_once_a_claimer_on_the_killed_waiters_machine_has_looked(aws_repo, lock_args, tmp_path):
    bob = dict(lock_args, holder='bob', cache_dir=str(tmp_path / 'bob-cache'))
    run_module('pool_lock', dict(bob, count=2))
    killed = start_module('pool_lock', dict(lock_args, holder='alice', timeout='2m'))
    wait_until(lambda: len(tickets(aws_repo)) == 1)
    dave = start_module('pool_lock', dict(lock_args, holder='dave', timeout='2m', cache_dir=str(tmp_path / 'dave-cache')))
    wait_until(lambda: len(tickets(aws_repo)) == 2)
    killed.kill()
    assert not run_module('pool_lock', dict(lock_args, holder='carol', wait=False))['acquired']  # nothing is free yet
    assert len(tickets(aws_repo)) == 1  # carol's look deleted alice's ticket: dave's is left
    run_module('pool_lock', dict(bob, name='env-1', state='released'))
    released = time.monotonic()
    assert dave.result(60)['acquired'] and time.monotonic() - released < 10

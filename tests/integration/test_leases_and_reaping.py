"""Leases recorded with claims, renewed by their holder, and reaped once expired (or by age) in one commit."""

import calendar
import time

from support.modules import run_module, run_playbook
from support.repos import commit_count, commit_to, git, head, last_message, pool_state, read_lock


def pool_lock(lock_args, **args):
    return run_module('pool_lock', dict(lock_args, **args))


def pool_reap(lock_args, check_mode=False, **args):
    return run_module('pool_reap', dict(lock_args, **args), check_mode=check_mode)


def epoch(iso):
    return calendar.timegm(time.strptime(iso, '%Y-%m-%dT%H:%M:%SZ'))


# -- leases ------------------------------------------------------------------------------

def test_a_lease_is_recorded_in_the_claim_commit_and_returned(aws_repo, lock_args):
    before = time.time()
    result = pool_lock(lock_args, name='env-1', holder='alice', lease='2h')
    assert abs(epoch(result['lock']['expires_at']) - (before + 7200)) < 5
    assert result['lock']['expired'] is False
    assert 'Lock-Lease-Expires: aws/env-1 %s' % result['lock']['expires_at'] in last_message(aws_repo).splitlines()


def test_a_lease_never_touches_the_lock_file(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', lease='2h')
    assert read_lock(aws_repo, 'aws/claimed/env-1') == 'region: eu-west-1\n'


def test_a_claim_without_lease_has_no_expiry(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-1', holder='alice')
    assert result['lock']['expires_at'] is None and result['lock']['expired'] is False


def test_the_holder_renews_its_lease_with_a_ref_outside_the_branch_which_does_not_move(aws_repo, lock_args):
    first = pool_lock(lock_args, name='env-1', holder='alice', lease='1m')
    branch = head(aws_repo)
    renewed = pool_lock(lock_args, name='env-1', holder='alice', lease='3h')
    assert renewed['changed'] and renewed['commit'] is None and head(aws_repo) == branch
    assert epoch(renewed['lock']['expires_at']) - epoch(first['lock']['expires_at']) > 3 * 3600 - 120
    renewals = git('for-each-ref', '--format=%(refname) %(objectname)', 'refs/lockpool/leases/', cwd=aws_repo).split()
    assert renewals == ['refs/lockpool/leases/main/aws/env-1/%d-%d' % (first['lock']['token'], epoch(renewed['lock']['expires_at'])),
                        first['lock']['commit']]
    assert renewed['lock']['holder'] == 'alice' and renewed['lock']['token'] == first['lock']['token']


def test_the_renewed_lease_is_the_one_pool_reap_sees(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', lease='1s')
    pool_lock(lock_args, name='env-1', holder='alice', lease='1h')
    time.sleep(1.5)
    result = pool_reap(lock_args)
    assert not result['changed'] and result['released'] == []
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_reclaiming_ones_lock_without_a_lease_changes_nothing(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', lease='1h')
    commits = commit_count(aws_repo)
    again = pool_lock(lock_args, name='env-1', holder='alice')
    assert not again['changed'] and commit_count(aws_repo) == commits


# -- reaping -----------------------------------------------------------------------------

def test_an_expired_lease_is_reaped_and_an_unexpired_one_never(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', lease='1s')
    pool_lock(lock_args, name='env-2', holder='bob', lease='1h')
    time.sleep(1.5)
    commits = commit_count(aws_repo)
    result = pool_reap(lock_args)
    assert result['changed'] and [lock['name'] for lock in result['released']] == ['env-1']
    assert result['released'][0]['reason'] == 'lease-expired' and result['released'][0]['holder'] == 'alice'
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-2'], 'unclaimed': ['env-1']}
    assert commit_count(aws_repo) == commits + 1
    assert last_message(aws_repo).splitlines()[0] == 'unclaiming: env-1'
    assert 'Lock-Reaped: aws/env-1 lease-expired' in last_message(aws_repo).splitlines()


def test_all_expired_locks_are_reaped_in_one_commit(aws_repo, lock_args):
    pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice', lease='1s')
    time.sleep(1.5)
    commits = commit_count(aws_repo)
    result = pool_reap(lock_args)
    assert [lock['name'] for lock in result['released']] == ['env-1', 'env-2']
    assert commit_count(aws_repo) == commits + 1
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_check_mode_reports_what_would_be_reaped_and_pushes_nothing(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', lease='1s')
    time.sleep(1.5)
    before = head(aws_repo)
    result = pool_reap(lock_args, check_mode=True)
    assert result['changed'] and [lock['name'] for lock in result['released']] == ['env-1']
    assert head(aws_repo) == before


def test_a_claim_without_lease_is_reaped_only_by_older_than(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    time.sleep(1.5)
    assert pool_reap(lock_args)['released'] == []
    assert pool_reap(lock_args, older_than='1h')['released'] == []
    result = pool_reap(lock_args, older_than=1)
    assert [(lock['name'], lock['reason']) for lock in result['released']] == [('env-1', 'older-than')]


def test_a_concourse_claim_is_reaped_by_older_than_only(aws_repo, lock_args):
    commit_to(aws_repo, 'main/deploy/deploy-aws build 42 claiming: env-1', [('mv', 'aws/unclaimed/env-1', 'aws/claimed/env-1')])
    time.sleep(1.5)
    assert pool_reap(lock_args)['released'] == []
    result = pool_reap(lock_args, older_than='1s')
    assert result['released'][0]['holder'] == 'main/deploy/deploy-aws build 42'
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_reaping_with_team_releases_only_that_teams_claims(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice', team='platform', lease='1s')
    pool_lock(lock_args, name='env-2', holder='bob', team='data', lease='1s')
    time.sleep(1.5)
    result = pool_reap(lock_args, team='data')
    assert [lock['name'] for lock in result['released']] == ['env-2']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_the_reap_playbook_runs_as_a_collection_playbook(aws_repo, lock_args, cache_dir):
    pool_lock(lock_args, name='env-1', holder='alice', lease='1s')
    time.sleep(1.5)
    result = run_playbook('lockpool.git.reap', {'with_lock_repo': aws_repo, 'with_lock_pool': 'aws', 'with_lock_cache_dir': cache_dir})
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'released: env-1' in result.stdout
    assert pool_state(aws_repo, 'aws')['claimed'] == []

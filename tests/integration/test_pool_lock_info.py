"""pool_lock_info against real repositories written by Concourse (every subject form) and by pool_lock."""

import time

import pytest

from support.modules import run_module
from support.repos import commit_count, commit_to, head, make_lock_repo

CONCOURSE = 'CI Pool Resource <ci-pool@localhost>'
T0 = 1700000000
BUILD_URL = 'https://ci.example.com/teams/platform/pipelines/deploy/jobs/deploy-aws/builds/7'


def claim_as_concourse(repo, subject, lock, date, pool='aws'):
    return commit_to(repo, subject, [('mv', '%s/unclaimed/%s' % (pool, lock), '%s/claimed/%s' % (pool, lock))],
                     author=CONCOURSE, date=date)


def release_as_concourse(repo, subject, lock, date, pool='aws'):
    return commit_to(repo, subject, [('mv', '%s/claimed/%s' % (pool, lock), '%s/unclaimed/%s' % (pool, lock))],
                     author=CONCOURSE, date=date)


@pytest.fixture
def mixed_repo(tmp_path, cache_dir):
    """Pools aws and gcp, changed by Concourse builds of several versions and then by pool_lock.

    aws/env-1: claimed by ``main/deploy/deploy-aws build 42`` at T0+100
    aws/env-2: claimed by a v1.8 build of team platform (Build URL line) at T0+200
    aws/env-3: claimed by ``deploy/deploy-aws #5`` at T0+300, released at T0+400
    aws/env-4: never touched; gcp/g-1: claimed by alice of team platform through pool_lock
    """
    repo = make_lock_repo(tmp_path / 'mixed.git', {
        'aws': {'env-1': 'region: eu-west-1\n', 'env-2': '{"region": "us-east-1"}\n', 'env-3': 'plain text', 'env-4': ''},
        'gcp': {'g-1': 'zone: a\n'},
    })
    claim_as_concourse(repo, 'main/deploy/deploy-aws build 42 claiming: env-1', 'env-1', T0 + 100)
    claim_as_concourse(repo, 'claiming: env-2\nBuild URL: %s ' % BUILD_URL, 'env-2', T0 + 200)
    claim_as_concourse(repo, 'deploy/deploy-aws #5 claiming: env-3', 'env-3', T0 + 300)
    release_as_concourse(repo, 'main/deploy/deploy-aws build 43 unclaiming: env-3', 'env-3', T0 + 400)
    claimed = run_module('pool_lock', {'repo': repo, 'cache_dir': cache_dir, 'pool': 'gcp', 'name': 'g-1',
                                       'holder': 'alice', 'team': 'platform'})
    assert claimed['changed']
    return repo


def info(repo, cache_dir, check_mode=False, env=None, **args):
    return run_module('pool_lock_info', dict(args, repo=repo, cache_dir=cache_dir), check_mode=check_mode, env=env)


def lock(result, pool, name):
    return next(found for found in result['pools'][pool]['locks'] if found['name'] == name)


# -- pools and locks ----------------------------------------------------------------------

def test_every_pool_with_its_counts_and_locks(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir)
    assert not result['changed']
    assert sorted(result['pools']) == ['aws', 'gcp']
    assert (result['pools']['aws']['available'], result['pools']['aws']['claimed']) == (2, 2)
    assert (result['pools']['gcp']['available'], result['pools']['gcp']['claimed']) == (0, 1)
    assert [found['name'] for found in result['pools']['aws']['locks']] == ['env-1', 'env-2', 'env-3', 'env-4']
    assert result['commit'] == head(mixed_repo)


def test_lock_metadata_as_text_and_data(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, pool='aws')
    assert lock(result, 'aws', 'env-2')['metadata'] == '{"region": "us-east-1"}\n'
    assert lock(result, 'aws', 'env-2')['data'] == {'region': 'us-east-1'}
    assert lock(result, 'aws', 'env-3')['data'] is None


def test_holder_team_and_time_of_a_concourse_build_claim(mixed_repo, cache_dir):
    env_1 = lock(info(mixed_repo, cache_dir), 'aws', 'env-1')
    assert env_1['state'] == 'claimed'
    assert (env_1['holder'], env_1['team']) == ('main/deploy/deploy-aws build 42', 'main')
    assert env_1['claimed_at'] == '2023-11-14T22:15:00Z'
    assert abs(env_1['age'] - (time.time() - (T0 + 100))) < 60


def test_holder_of_a_v1_8_claim_is_its_build_url_and_team_from_it(mixed_repo, cache_dir):
    env_2 = lock(info(mixed_repo, cache_dir), 'aws', 'env-2')
    assert (env_2['holder'], env_2['team']) == (BUILD_URL, 'platform')
    assert env_2['claimed_at'] == '2023-11-14T22:16:40Z'


def test_holder_and_team_of_an_ansible_claim(mixed_repo, cache_dir):
    g_1 = lock(info(mixed_repo, cache_dir, pool='gcp'), 'gcp', 'g-1')
    assert (g_1['holder'], g_1['team']) == ('alice', 'platform')
    assert 0 <= g_1['age'] < 120
    assert g_1['commit'] == head(mixed_repo)


@pytest.mark.parametrize('subject, holder, team', [
    ('one-off build 77 claiming: env-4', 'one-off build 77', None),
    ('deploy/deploy-aws build 3 claiming: env-4', 'deploy/deploy-aws build 3', None),
    ('main/deploy/region:eu/deploy-aws build 9 claiming: env-4', 'main/deploy/region:eu/deploy-aws build 9', 'main'),
    ('claiming: env-4\nBuild URL:', None, None),
    ('claiming: env-4', None, None),
])
def test_holder_of_every_other_concourse_form(mixed_repo, cache_dir, subject, holder, team):
    claim_as_concourse(mixed_repo, subject, 'env-4', T0 + 500)
    env_4 = lock(info(mixed_repo, cache_dir, pool='aws', name='env-4'), 'aws', 'env-4')
    assert (env_4['state'], env_4['holder'], env_4['team']) == ('claimed', holder, team)
    assert env_4['claimed_at'] == '2023-11-14T22:21:40Z'


def test_unclaimed_locks_have_no_holder_and_in_a_listing_no_age(mixed_repo, cache_dir):
    env_3 = lock(info(mixed_repo, cache_dir), 'aws', 'env-3')
    assert env_3['state'] == 'unclaimed'
    assert (env_3['holder'], env_3['team'], env_3['claimed_at'], env_3['age'], env_3['commit']) == (None,) * 5


def test_one_named_unclaimed_lock_has_the_age_of_its_release(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, pool='aws', name='env-3')
    assert [found['name'] for found in result['pools']['aws']['locks']] == ['env-3']
    env_3 = result['pools']['aws']['locks'][0]
    assert abs(env_3['age'] - (time.time() - (T0 + 400))) < 60
    assert env_3['holder'] is None


def test_updating_a_claimed_lock_keeps_its_claim_time(mixed_repo, cache_dir):
    claimed_at = lock(info(mixed_repo, cache_dir), 'gcp', 'g-1')['claimed_at']
    time.sleep(1.1)
    run_module('pool_lock', {'repo': mixed_repo, 'cache_dir': cache_dir, 'pool': 'gcp', 'name': 'g-1',
                             'state': 'present', 'metadata': 'zone: b\n', 'holder': 'alice'})
    claim = lock(info(mixed_repo, cache_dir), 'gcp', 'g-1')
    assert claim['metadata'] == 'zone: b\n'
    assert claim['claimed_at'] == claimed_at
    assert claim['commit'] != head(mixed_repo)


def test_a_missing_pool_fails(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, pool='azure')
    assert result['failed'] and "pool 'azure' does not exist" in result['msg']


def test_a_missing_lock_fails(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, pool='aws', name='env-9')
    assert result['failed'] and result['msg'] == "lock 'env-9' does not exist in pool 'aws'"


def test_a_name_needs_a_pool(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, name='env-1')
    assert result['failed'] and 'pool' in result['msg']


def test_an_unreachable_repository_fails(tmp_path, cache_dir):
    result = info(str(tmp_path / 'nowhere.git'), cache_dir)
    assert result['failed'] and 'cannot read lock repository' in result['msg']


# -- reading is cheap and changes nothing --------------------------------------------------

def test_reading_changes_nothing_and_works_in_check_mode(mixed_repo, cache_dir):
    before = (head(mixed_repo), commit_count(mixed_repo))
    checked = info(mixed_repo, cache_dir, check_mode=True, history=3)
    assert lock(checked, 'gcp', 'g-1')['holder'] == 'alice' and len(checked['events']) == 3
    assert (head(mixed_repo), commit_count(mixed_repo)) == before


def test_a_warm_cache_asks_the_server_and_does_not_fetch(mixed_repo, cache_dir, tmp_path):
    info(mixed_repo, cache_dir)
    trace = tmp_path / 'trace'
    info(mixed_repo, cache_dir, env={'GIT_TRACE': str(trace)})
    commands = trace.read_text()
    assert 'ls-remote' in commands
    assert 'fetch' not in commands


def test_a_cache_fetches_when_the_branch_moved(mixed_repo, cache_dir, tmp_path):
    info(mixed_repo, cache_dir)
    release_as_concourse(mixed_repo, 'unclaiming: env-1', 'env-1', T0 + 600)
    trace = tmp_path / 'trace'
    result = info(mixed_repo, cache_dir, env={'GIT_TRACE': str(trace)})
    assert 'fetch' in trace.read_text()
    assert lock(result, 'aws', 'env-1')['state'] == 'unclaimed'


def test_reading_over_git_daemon(git_daemon, cache_dir):
    make_lock_repo(git_daemon.base + '/info-locks.git', {'aws': {'env-1': 'a'}}, claimed={'aws': ['env-1']})
    result = info(git_daemon.url('info-locks.git'), cache_dir)
    assert result['pools']['aws']['claimed'] == 1


# -- history ------------------------------------------------------------------------------------

def brief(events):
    return [(event['operation'], event['pool'], event['lock'], event['holder'], event['team']) for event in events]


def test_history_of_concourse_and_ansible_commits_newest_first(mixed_repo, cache_dir):
    events = info(mixed_repo, cache_dir, history=5)['events']
    assert brief(events) == [
        ('claim', 'gcp', 'g-1', 'alice', 'platform'),
        ('release', 'aws', 'env-3', 'main/deploy/deploy-aws build 43', 'main'),
        ('claim', 'aws', 'env-3', 'deploy/deploy-aws #5', None),
        ('claim', 'aws', 'env-2', BUILD_URL, 'platform'),
        ('claim', 'aws', 'env-1', 'main/deploy/deploy-aws build 42', 'main'),
    ]


def test_history_event_carries_commit_time_and_subject(mixed_repo, cache_dir):
    event = info(mixed_repo, cache_dir, history=4)['events'][3]
    assert event['message'] == 'claiming: env-2 Build URL: %s' % BUILD_URL
    assert event['time'] == '2023-11-14T22:16:40Z'
    assert len(event['commit']) == 40


def test_history_reads_only_the_events_asked_for(mixed_repo, cache_dir):
    assert len(info(mixed_repo, cache_dir, history=2)['events']) == 2


def test_no_history_unless_asked(mixed_repo, cache_dir):
    assert 'events' not in info(mixed_repo, cache_dir)


def test_history_of_one_pool_and_one_lock(mixed_repo, cache_dir):
    events = info(mixed_repo, cache_dir, pool='aws', name='env-3', history=10)['events']
    assert [(event['operation'], event['lock']) for event in events] == [('release', 'env-3'), ('claim', 'env-3'), ('add', 'env-3')]


def test_history_of_adds_updates_and_removes(mixed_repo, cache_dir):
    args = {'repo': mixed_repo, 'cache_dir': cache_dir, 'pool': 'aws', 'holder': 'bob'}
    run_module('pool_lock', dict(args, name='env-5', state='present', metadata='x', claimed=True))
    run_module('pool_lock', dict(args, name='env-4', state='present', metadata='new'))
    run_module('pool_lock', dict(args, name='env-3', state='absent'))
    events = info(mixed_repo, cache_dir, history=3)['events']
    assert brief(events) == [('remove', 'aws', 'env-3', 'bob', None), ('update', 'aws', 'env-4', 'bob', None),
                             ('add_claimed', 'aws', 'env-5', 'bob', None)]


def test_pool_boy_reaping_is_one_release_per_lock(mixed_repo, cache_dir):
    commit_to(mixed_repo, 'Freshening up the pool with 2 changes',
              [('mv', 'aws/claimed/env-1', 'aws/unclaimed/env-1'), ('mv', 'aws/claimed/env-2', 'aws/unclaimed/env-2')],
              author='Pool Boy <pool-boy@localhost>')
    events = info(mixed_repo, cache_dir, history=2)['events']
    assert brief(events) == [('release', 'aws', 'env-1', 'Pool Boy', None), ('release', 'aws', 'env-2', 'Pool Boy', None)]


def test_negative_history_is_refused(mixed_repo, cache_dir):
    result = info(mixed_repo, cache_dir, history=-1)
    assert result['failed'] and result['msg'] == 'history must be 0 or more, got -1'


def test_a_claim_with_a_lease_shows_its_token_and_expiry(aws_repo, cache_dir):
    claimed = run_module('pool_lock', {'repo': aws_repo, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1',
                                       'holder': 'alice', 'lease': '30m'})
    shown = lock(info(aws_repo, cache_dir, pool='aws'), 'aws', 'env-1')
    assert (shown['token'], shown['expires_at'], shown['expired']) == (claimed['lock']['token'], claimed['lock']['expires_at'], False)
    assert shown['token'] >= 1


def test_unclaimed_locks_have_no_token_and_no_lease(aws_repo, cache_dir):
    shown = lock(info(aws_repo, cache_dir, pool='aws'), 'aws', 'env-2')
    assert (shown['token'], shown['expires_at'], shown['expired']) == (None, None, False)


def test_every_pool_shows_its_queue_even_when_empty(aws_repo, cache_dir):
    assert info(aws_repo, cache_dir)['pools']['aws']['queue'] == []

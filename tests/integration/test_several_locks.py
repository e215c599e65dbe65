"""Several locks in one commit, all or nothing; match by metadata; moving a lock between pools."""

import subprocess

import pytest

from support.modules import PYTHON, module_env, run_module
from support.repos import commit_count, git, head, last_message, make_lock_repo, pool_state, read_lock
from support.load import double_holders, run_contenders

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


def pool_lock(lock_args, **args):
    return run_module('pool_lock', dict(lock_args, **args))


def parsed(message):
    code = ('import sys; from ansible_collections.lockpool.git.plugins.module_utils._message import parse_message; '
            'event = parse_message(sys.stdin.read()); print(event.operation, "|", event.lock, "|", event.holder)')
    return subprocess.run([PYTHON, '-c', code], input=message, capture_output=True, text=True, env=module_env(),
                          check=False).stdout.strip()


def test_a_list_of_names_is_claimed_in_one_commit(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice')
    assert result['acquired'] and [lock['name'] for lock in result['locks']] == ['env-1', 'env-2']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1', 'env-2']
    assert commit_count(aws_repo) == commits + 1
    assert last_message(aws_repo).splitlines()[0] == 'claiming: env-1, env-2'


def test_the_subject_of_several_locks_is_read_by_our_parser(aws_repo, lock_args):
    pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice')
    assert parsed(last_message(aws_repo)) == 'claim | env-1, env-2 | alice'


def test_a_list_is_claimed_all_or_nothing(aws_repo, lock_args):
    pool_lock(lock_args, name='env-2', holder='bob')
    before = head(aws_repo)
    result = pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice', wait=False)
    assert not result['acquired'] and not result['changed']
    assert "lock 'env-2' in pool 'aws' is claimed by bob" == result['waiting_for']
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-2'], 'unclaimed': ['env-1']}
    assert head(aws_repo) == before


def test_count_claims_that_many_free_locks_in_one_commit(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, count=2, holder='alice')
    assert sorted(lock['name'] for lock in result['locks']) == ['env-1', 'env-2']
    assert commit_count(aws_repo) == commits + 1


def test_count_waits_while_fewer_locks_are_free(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='bob')
    result = pool_lock(lock_args, count=2, holder='alice', wait=False)
    assert not result['acquired'] and result['locks'] == []
    assert result['waiting_for'] == "fewer than 2 locks in pool 'aws' are free"
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_a_list_is_released_in_one_commit(aws_repo, lock_args):
    pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice')
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name=['env-1', 'env-2'], holder='alice', state='released')
    assert result['changed'] and commit_count(aws_repo) == commits + 1
    assert last_message(aws_repo).splitlines()[0] == 'unclaiming: env-1, env-2'
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_match_claims_only_a_lock_whose_data_contains_the_values(tmp_path, cache_dir):
    repo = make_lock_repo(tmp_path / 'm.git', {'aws': {'a': 'region: us\nsize: 1\n', 'b': 'region: eu\nsize: 2\n',
                                                       'c': 'not a mapping'}})
    args = {'repo': repo, 'cache_dir': cache_dir, 'pool': 'aws'}
    result = pool_lock(args, match={'region': 'eu'}, holder='alice')
    assert result['lock']['name'] == 'b' and result['lock']['data'] == {'region': 'eu', 'size': 2}
    again = pool_lock(args, match={'region': 'eu'}, holder='bob', wait=False)
    assert not again['acquired']
    assert again['waiting_for'] == "no lock in pool 'aws' with {'region': 'eu'} is free"
    assert pool_state(repo, 'aws')['claimed'] == ['b']


def test_six_processes_each_claiming_two_of_three_locks_never_deadlock(git_daemon, tmp_path):
    name = 'two-of-three-%s.git' % tmp_path.name  # one per run: the daemon serves the whole session
    repo = make_lock_repo(git_daemon.base + '/' + name, {'aws': {'env-1': 'a', 'env-2': 'b', 'env-3': 'c'}})
    events, failures = run_contenders(git_daemon.url(name), str(tmp_path), processes=6, cycles=3,
                                      shared_cache_for=3, time_limit=600, extra_args={'count': 2})
    assert failures == []
    assert double_holders(events) == 0
    assert len([event for event in events if event[0] == 'enter']) == 6 * 3 * 2
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2', 'env-3']}
    git('fsck', '--strict', cwd=repo)


# -- moving -----------------------------------------------------------------------------

def test_a_lock_moves_to_another_pool_in_one_commit_with_its_metadata(aws_repo, lock_args):
    pool_lock(dict(lock_args, pool='gcp'), name='g-1', state='present')
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name='env-1', state='moved', to_pool='gcp')
    assert result['changed'] and result['lock']['pool'] == 'gcp' and result['lock']['state'] == 'unclaimed'
    assert commit_count(aws_repo) == commits + 1
    assert pool_state(aws_repo, 'aws')['unclaimed'] == ['env-2']
    assert pool_state(aws_repo, 'gcp')['unclaimed'] == ['env-1', 'g-1']
    assert read_lock(aws_repo, 'gcp/unclaimed/env-1') == 'region: eu-west-1\n'
    assert last_message(aws_repo).splitlines()[0] == 'moving: env-1'


def test_the_holder_moves_its_claimed_lock_and_releases_it_into_the_other_pool(aws_repo, lock_args):
    pool_lock(dict(lock_args, pool='gcp'), name='g-1', state='present')
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', holder='alice', state='moved', to_pool='gcp')
    assert result['changed'] and pool_state(aws_repo, 'gcp')['unclaimed'] == ['env-1', 'g-1']


def test_moving_another_holders_lock_waits(aws_repo, lock_args):
    pool_lock(dict(lock_args, pool='gcp'), name='g-1', state='present')
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', state='moved', to_pool='gcp', wait=False)
    assert not result['changed'] and 'moved once it is released' in result['waiting_for']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_moving_onto_an_existing_lock_of_that_name_fails_and_changes_nothing(aws_repo, lock_args):
    pool_lock(dict(lock_args, pool='gcp'), name='env-1', state='present')
    before = head(aws_repo)
    result = pool_lock(lock_args, name='env-1', state='moved', to_pool='gcp')
    assert result['failed']
    assert result['msg'] == "cannot move lock 'env-1' to pool 'gcp': that pool already has a lock of that name"
    assert head(aws_repo) == before


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    ({'count': 0}, 'count must be a whole number of locks, at least 1, got 0'),
    ({'name': ['env-1'], 'count': 2}, 'name cannot be combined with count or match'),
    ({'name': ['env-1', 'env-1']}, 'name lists a lock more than once: env-1, env-1'),
    ({'name': ['env-1', '../x']}, "lock name '../x' must not contain a path separator"),
    ({'name': ['env-1', 'env-2'], 'state': 'absent'}, 'name must be a single lock with state absent'),
    ({'lease': 'soon'}, "lease must be a duration such as 10s, 90m or 1h, got 'soon'"),
    ({'lease': 0}, 'lease must be longer than 0s, got 0'),
    ({'name': 'env-1', 'state': 'released', 'token': 'abc'}, "token must be an integer (the lock.token a claim returned), got 'abc'"),
    ({'name': ['env-1', 'env-2'], 'state': 'released', 'token': 3}, 'token must be a mapping of lock name to token'),
    ({'name': 'env-1', 'state': 'moved', 'to_pool': 'aws'}, "to_pool must be another pool than pool 'aws'"),
    ({'name': 'env-1', 'state': 'moved', 'to_pool': 'gcp'}, "pool 'gcp' does not exist"),
])
def test_bad_input_for_several_locks_fails_clearly_and_pushes_nothing(aws_repo, lock_args, args, message):
    before = head(aws_repo)
    result = pool_lock(lock_args, holder='alice', **args)
    assert result['failed'] and message in result['msg']
    assert 'Traceback' not in result['stderr']
    assert head(aws_repo) == before

"""pool_lock against real lock repositories: every Concourse ``out`` operation, and where we do better."""

import pytest

from support.modules import run_module, start_module
from support.plays import queue_tickets, wait_until
from support.repos import commit_count, commit_to, head, last_message, make_lock_repo, pool_state, read_lock

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


def pool_lock(lock_args, **args):
    return run_module('pool_lock', dict(lock_args, **args))


# -- acquire (random) and claim (named) ---------------------------------------------

def test_acquire_without_name_claims_a_free_lock(aws_repo, lock_args):
    result = pool_lock(lock_args, holder='alice')
    assert result['changed'] and result['acquired']
    name = result['lock']['name']
    assert pool_state(aws_repo, 'aws')['claimed'] == [name]
    assert result['lock']['holder'] == 'alice'
    assert result['commit'] == head(aws_repo)


def test_acquire_writes_the_concourse_subject_and_holder_trailers(aws_repo, lock_args):
    result = pool_lock(lock_args, holder='alice', team='platform')
    message = last_message(aws_repo)
    assert message.splitlines()[0] == 'claiming: %s' % result['lock']['name']
    assert 'Lock-Holder: alice' in message.splitlines()
    assert 'Lock-Team: platform' in message.splitlines()


def test_acquire_without_name_always_takes_a_new_lock(aws_repo, lock_args):
    first = pool_lock(lock_args, holder='alice')
    second = pool_lock(lock_args, holder='alice')
    assert {first['lock']['name'], second['lock']['name']} == {'env-1', 'env-2'}
    assert pool_state(aws_repo, 'aws')['unclaimed'] == []


def test_claim_named_lock(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-2', holder='alice')
    assert result['changed'] and result['acquired']
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-2'], 'unclaimed': ['env-1']}
    assert result['lock']['data'] == {'region': 'us-east-1'}
    assert result['lock']['metadata'] == '{"region": "us-east-1"}\n'


def test_claim_keeps_the_metadata_bytes(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    assert read_lock(aws_repo, 'aws/claimed/env-1') == 'region: eu-west-1\n'


def test_reclaim_by_the_same_named_holder_changes_nothing(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    commits = commit_count(aws_repo)
    again = pool_lock(lock_args, name='env-1', holder='alice')
    assert not again['changed'] and again['acquired']
    assert again['commit'] is None
    assert commit_count(aws_repo) == commits


def test_claim_of_a_claimed_lock_by_another_holder_waits_until_timeout(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', holder='bob', timeout='1s', retry_delay='0.2s')
    assert result['failed']
    assert "lock 'env-1' in pool 'aws' is claimed by alice" in result['msg']
    assert 'gave up after 1s' in result['msg']


def test_two_runs_without_holder_are_never_the_same_holder(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1')
    second = pool_lock(lock_args, name='env-1', wait=False)
    assert not second['changed'] and not second['acquired']
    assert 'claimed by' in second['waiting_for']


def test_acquire_with_nothing_free_and_wait_false_returns_not_acquired(aws_repo, lock_args):
    pool_lock(lock_args, holder='a')
    pool_lock(lock_args, holder='b')
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, holder='c', wait=False)
    assert result['rc'] == 0 and not result['changed'] and not result['acquired']
    assert result['lock'] is None
    assert commit_count(aws_repo) == commits


def test_acquire_waits_for_a_release_pushed_by_another_tool(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='a')
    pool_lock(lock_args, name='env-2', holder='b')
    waiting = start_module('pool_lock', dict(lock_args, holder='c', timeout=60, retry_delay='0.5s'))
    wait_until(lambda: queue_tickets(aws_repo), 60, what='a ticket of the waiting claim')  # a fair claim that waits takes one
    commit_to(aws_repo, 'unclaiming: env-2', [('mv', 'aws/claimed/env-2', 'aws/unclaimed/env-2')])
    result = waiting.result()
    assert result['acquired'] and result['lock']['name'] == 'env-2'
    assert result['waited'] > 0


def test_claim_of_a_missing_lock_fails_at_once(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-9', holder='alice')
    assert result['failed']
    assert result['msg'] == "lock 'env-9' does not exist in pool 'aws'"


def test_claim_in_a_missing_pool_fails_at_once(aws_repo, lock_args):
    result = pool_lock(dict(lock_args, pool='gcp'), holder='alice')
    assert result['failed']
    assert "pool 'gcp' does not exist" in result['msg']


# -- release ----------------------------------------------------------------------------

def test_release_moves_the_lock_back(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', holder='alice', state='released')
    assert result['changed']
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}
    assert last_message(aws_repo).startswith('unclaiming: env-1\n')
    assert result['lock']['state'] == 'unclaimed' and result['lock']['holder'] is None


def test_release_of_an_unclaimed_lock_changes_nothing(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name='env-1', state='released')
    assert not result['changed'] and result['commit'] is None
    assert commit_count(aws_repo) == commits


def test_release_by_another_named_holder_is_refused(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', holder='bob', state='released')
    assert result['failed']
    assert 'held by alice, not by bob' in result['msg']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_release_by_another_holder_with_force(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', holder='bob', state='released', force=True)
    assert result['changed']
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_release_without_holder_works_like_concourse(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', state='released')
    assert result['changed']


def test_release_of_a_lock_claimed_by_concourse(aws_repo, lock_args):
    commit_to(aws_repo, 'main/deploy/deploy-aws build 42 claiming: env-1', [('mv', 'aws/unclaimed/env-1', 'aws/claimed/env-1')])
    info = pool_lock(lock_args, name='env-1', holder='alice', wait=False)
    assert info['waiting_for'] == "lock 'env-1' in pool 'aws' is claimed by main/deploy/deploy-aws build 42"
    result = pool_lock(lock_args, name='env-1', state='released')
    assert result['changed']


# -- add, add_claimed, update -------------------------------------------------------------

def test_add_unclaimed_with_metadata(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-3', state='present', metadata='region: ap\n', holder='alice')
    assert result['changed']
    assert pool_state(aws_repo, 'aws')['unclaimed'] == ['env-1', 'env-2', 'env-3']
    assert read_lock(aws_repo, 'aws/unclaimed/env-3') == 'region: ap\n'
    assert last_message(aws_repo).startswith('adding unclaimed: env-3\n')


def test_add_metadata_mapping_is_written_as_yaml(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-3', state='present', metadata={'region': 'ap', 'size': 3})
    assert read_lock(aws_repo, 'aws/unclaimed/env-3') == 'region: ap\nsize: 3\n'
    assert result['lock']['data'] == {'region': 'ap', 'size': 3}


def test_add_claimed(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-3', state='present', metadata='x', claimed=True, holder='alice')
    assert result['changed']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-3']
    assert last_message(aws_repo).startswith('adding claimed: env-3\n')
    assert result['lock']['holder'] == 'alice' and result['lock']['state'] == 'claimed'


def test_adding_an_identical_lock_changes_nothing(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name='env-1', state='present', metadata='region: eu-west-1\n')
    assert not result['changed'] and result['commit'] is None
    assert commit_count(aws_repo) == commits


def test_update_rewrites_metadata_of_an_unclaimed_lock(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-1', state='present', metadata='region: eu-central-1\n')
    assert result['changed']
    assert read_lock(aws_repo, 'aws/unclaimed/env-1') == 'region: eu-central-1\n'
    assert last_message(aws_repo).startswith('updating: env-1\n')


def test_update_waits_while_the_lock_is_claimed(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', state='present', metadata='new\n', holder='bob', wait=False)
    assert not result['changed']
    assert 'updated once it is released' in result['waiting_for']
    assert read_lock(aws_repo, 'aws/claimed/env-1') == 'region: eu-west-1\n'


def test_first_lock_added_to_a_new_pool_creates_the_pool(aws_repo, lock_args):
    result = pool_lock(dict(lock_args, pool='gcp'), name='g-1', state='present', metadata='zone: a\n')
    assert result['changed']
    assert pool_state(aws_repo, 'gcp') == {'claimed': [], 'unclaimed': ['g-1']}
    assert read_lock(aws_repo, 'gcp/claimed/.gitkeep') == ''
    assert read_lock(aws_repo, 'gcp/unclaimed/.gitkeep') == ''


# -- remove ----------------------------------------------------------------------------------

def test_remove_an_unclaimed_lock(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-1', state='absent')
    assert result['changed'] and result['lock']['state'] == 'absent'
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-2']}
    assert last_message(aws_repo).startswith('removing: env-1\n')


def test_remove_a_claimed_lock(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', state='absent', holder='alice')
    assert result['changed']
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-2']}


def test_remove_of_another_holders_lock_is_refused(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    result = pool_lock(lock_args, name='env-1', state='absent', holder='bob')
    assert result['failed'] and 'held by alice, not by bob' in result['msg']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_removing_an_absent_lock_changes_nothing(aws_repo, lock_args):
    commits = commit_count(aws_repo)
    result = pool_lock(lock_args, name='env-9', state='absent')
    assert not result['changed'] and commit_count(aws_repo) == commits


# -- check mode and diff mode ------------------------------------------------------------------

def test_check_mode_reports_the_change_and_pushes_nothing(aws_repo, lock_args):
    before = head(aws_repo)
    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'), check_mode=True)
    assert result['changed'] and result['commit'] is None
    assert head(aws_repo) == before


def test_check_mode_add_pushes_nothing(aws_repo, lock_args):
    before = head(aws_repo)
    result = run_module('pool_lock', dict(lock_args, name='env-7', state='present', metadata='a'), check_mode=True)
    assert result['changed']
    assert head(aws_repo) == before


def test_diff_shows_state_and_metadata_before_and_after(aws_repo, lock_args):
    result = run_module('pool_lock', dict(lock_args, name='env-1', state='present', metadata='region: ap\n'), diff=True)
    assert result['diff']['before'] == 'state: unclaimed\n---\nregion: eu-west-1\n'
    assert result['diff']['after'] == 'state: unclaimed\n---\nregion: ap\n'


def test_diff_of_a_claim_shows_the_move(aws_repo, lock_args):
    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'), diff=True)
    assert result['diff']['before_header'] == 'aws/unclaimed/env-1'
    assert result['diff']['after_header'] == 'aws/claimed/env-1'
    assert result['diff']['after'] == 'state: claimed\nholder: alice\n'


# -- compatibility with lock files written by Concourse ---------------------------------------

def test_lock_files_with_mode_755_are_locks_and_keep_their_mode(tmp_path, cache_dir):
    from support.repos import git
    repo = make_lock_repo(tmp_path / 'c.git', {'p': {'l': 'm'}})
    commit_to(repo, 'mode 755 as Concourse writes it', [('chmod+x', 'p/unclaimed/l')])
    result = run_module('pool_lock', {'repo': repo, 'cache_dir': cache_dir, 'pool': 'p', 'name': 'l', 'holder': 'h'})
    assert result['changed']
    assert git('ls-tree', 'refs/heads/main', 'p/claimed/l', cwd=repo).split()[0] == '100755'


def test_dot_files_are_never_locks(tmp_path, cache_dir):
    repo = make_lock_repo(tmp_path / 'd.git', {'p': {'.hidden': 'x'}})
    result = run_module('pool_lock', {'repo': repo, 'cache_dir': cache_dir, 'pool': 'p', 'wait': False})
    assert not result['acquired'] and not result['changed']


# -- remotes ------------------------------------------------------------------------------------

def test_acquire_and_release_over_git_daemon(git_daemon, cache_dir, tmp_path):
    name = 'daemon-locks-%s.git' % tmp_path.name  # one per run: the daemon serves the whole session
    repo = make_lock_repo(git_daemon.base + '/' + name, {'aws': {'env-1': 'a'}})
    args = {'repo': git_daemon.url(name), 'cache_dir': cache_dir, 'pool': 'aws', 'holder': 'alice'}
    claimed = run_module('pool_lock', args)
    assert claimed['acquired'] and pool_state(repo, 'aws')['claimed'] == ['env-1']
    released = run_module('pool_lock', dict(args, name='env-1', state='released'))
    assert released['changed'] and pool_state(repo, 'aws')['claimed'] == []


def test_uri_is_an_alias_of_repo_and_env_fallback_works(aws_repo, cache_dir):
    by_alias = run_module('pool_lock', {'uri': aws_repo, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1', 'holder': 'h'})
    assert by_alias['changed']
    by_env = run_module('pool_lock', {'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-2', 'holder': 'h'},
                        env={'LOCKPOOL_REPO': aws_repo})
    assert by_env['changed']


def test_branch_other_than_main(tmp_path, cache_dir):
    repo = make_lock_repo(tmp_path / 'b.git', {'p': {'l': ''}}, branch='locks/ci')
    result = run_module('pool_lock', {'repo': repo, 'branch': 'locks/ci', 'cache_dir': cache_dir, 'pool': 'p', 'holder': 'h'})
    assert result['acquired']
    assert pool_state(repo, 'p', branch='locks/ci')['claimed'] == ['l']


def test_cache_is_reused_between_runs(aws_repo, lock_args, cache_dir):
    import os
    pool_lock(lock_args, name='env-1', holder='a')
    caches = os.listdir(cache_dir)
    pool_lock(lock_args, name='env-1', holder='a', state='released')
    assert sorted(os.listdir(cache_dir)) == sorted(caches)
    assert len([name for name in caches if name.endswith('.git')]) == 1


def test_a_push_refused_by_a_server_hook_fails_clearly_without_retrying(aws_repo, lock_args):
    import os
    import time
    hook = os.path.join(aws_repo, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\necho "branch is protected" >&2\nexit 1\n')
    os.chmod(hook, 0o755)
    before = head(aws_repo)
    started = time.monotonic()
    result = pool_lock(lock_args, name='env-1', holder='alice')
    assert result['failed']
    assert result['msg'] == ('the lock repository %s refused the push to main: [remote rejected] (pre-receive hook declined) '
                             'remote: branch is protected' % aws_repo)
    assert time.monotonic() - started < 10
    assert head(aws_repo) == before


def git_logs_of(trace, path):
    return [line for line in trace.read_text().splitlines() if 'git log' in line and path in line]


def test_a_claim_describes_its_lock_from_the_commit_it_made_without_reading_history(lock_args, aws_repo, tmp_path):
    trace = tmp_path / 'git-trace'

    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'), env={'GIT_TRACE': str(trace)})

    assert result['commit'] == head(aws_repo)
    assert (result['lock']['holder'], result['lock']['commit']) == ('alice', result['commit'])
    assert git_logs_of(trace, 'aws/claimed/env-1') == []


def test_a_release_describes_its_lock_from_the_commit_it_made_without_reading_history(lock_args, aws_repo, tmp_path):
    run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'))
    trace = tmp_path / 'git-trace'

    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice', state='released'),
                        env={'GIT_TRACE': str(trace)})

    assert (result['lock']['state'], result['lock']['commit']) == ('unclaimed', head(aws_repo))
    assert git_logs_of(trace, 'aws/unclaimed/env-1') == []

"""Lock repositories as people really have them: made by hand or by other tools, with odd shapes and odd names.

Each repository here is made with the git command line, the way a person or another tool makes one; the
engine must read it as the pool it is and never leave it in a shape it cannot read back.
"""

import json
import os
import subprocess
import time

import pytest

from support.modules import module_command, module_env, run_module, run_playbook, write_module_args
from support.repos import git, make_lock_repo, make_repo_of_files, pool_state, tree_paths


def pool_lock(args, **more):
    return run_module('pool_lock', dict(args, **more))


def info(args, **more):
    return run_module('pool_lock_info', dict(args, **more))


def refs(repo):
    return git('for-each-ref', '--format=%(refname) %(objectname)', cwd=repo)


def connection(repo, cache_dir, pool='p'):
    return {'repo': repo, 'cache_dir': cache_dir, 'pool': pool}


# -- pools that lost a .gitkeep (git keeps no empty directory) ----------------------------------------

@pytest.fixture
def pool_without_gitkeep(tmp_path):
    """Pool ``p`` with one free lock and one claimed, and no .gitkeep anywhere."""
    return make_repo_of_files(tmp_path / 'bare.git', {'p/unclaimed/e1': 'a\n', 'p/claimed/e2': 'b\n'})


def test_claiming_the_last_free_lock_keeps_the_unclaimed_directory(pool_without_gitkeep, cache_dir):
    args = connection(pool_without_gitkeep, cache_dir)
    result = pool_lock(args, name='e1', holder='alice')
    assert not result.get('failed'), result
    assert result['changed'] and result['acquired'] and result['lock']['state'] == 'claimed'
    assert 'p/unclaimed/.gitkeep' in tree_paths(pool_without_gitkeep)
    assert pool_state(pool_without_gitkeep, 'p') == {'claimed': ['e1', 'e2'], 'unclaimed': []}


def test_after_the_last_free_lock_is_claimed_every_operation_still_works(pool_without_gitkeep, cache_dir):
    args = connection(pool_without_gitkeep, cache_dir)
    pool_lock(args, name='e1', holder='alice')
    assert info(args)['pools']['p']['claimed'] == 2
    assert pool_lock(args, name='e2', state='released', force=True)['changed']
    assert pool_lock(args, name='e1', holder='alice', state='released')['changed']
    assert pool_state(pool_without_gitkeep, 'p') == {'claimed': [], 'unclaimed': ['e1', 'e2']}


def test_releasing_the_last_claimed_lock_keeps_the_claimed_directory(pool_without_gitkeep, cache_dir):
    args = connection(pool_without_gitkeep, cache_dir)
    result = pool_lock(args, name='e2', state='released', force=True)
    assert not result.get('failed'), result
    assert result['lock']['state'] == 'unclaimed'
    assert 'p/claimed/.gitkeep' in tree_paths(pool_without_gitkeep)
    assert pool_lock(args, holder='bob', count=2)['acquired']


def test_a_pool_with_no_claimed_directory_is_a_pool_with_nothing_claimed(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'p/unclaimed/e1': 'a\n'})
    args = connection(repo, cache_dir)
    assert info(args)['pools']['p'] == dict(info(args)['pools']['p'], available=1, claimed=0, problems=[])
    assert pool_lock(args, holder='alice')['lock']['name'] == 'e1'
    assert tree_paths(repo) == ['p/claimed/e1', 'p/unclaimed/.gitkeep']


def test_a_pool_with_no_unclaimed_directory_is_a_pool_with_nothing_free(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'p/claimed/e1': 'a\n'})
    args = connection(repo, cache_dir)
    result = pool_lock(args, holder='alice', wait=False)
    assert not result.get('failed') and not result['acquired'] and 'no lock' in result['waiting_for']
    assert pool_lock(args, name='e1', state='released', force=True)['changed']
    assert tree_paths(repo) == ['p/claimed/.gitkeep', 'p/unclaimed/e1']


def test_removing_the_last_lock_of_a_pool_keeps_the_pool(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'p/unclaimed/e1': 'a\n'})
    args = connection(repo, cache_dir)
    assert pool_lock(args, name='e1', state='absent')['changed']
    assert tree_paths(repo) == ['p/unclaimed/.gitkeep']
    assert pool_lock(args, name='e2', state='present', metadata='b')['changed']


def test_a_pool_that_has_its_gitkeeps_gets_no_other_file_in_a_claim(aws_repo, lock_args):
    pool_lock(lock_args, name='env-1', holder='alice')
    pool_lock(lock_args, name='env-2', holder='alice')
    changed = git('show', '--no-renames', '--name-only', '--format=', 'refs/heads/main', cwd=aws_repo).split()
    assert changed == ['aws/claimed/env-2', 'aws/unclaimed/env-2']


def test_a_directory_with_neither_half_is_not_a_pool(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'p/unclaimed/e1': 'a\n', 'docs/README': 'hello\n'})
    assert list(info(connection(repo, cache_dir, pool=None))['pools']) == ['p']
    result = pool_lock(connection(repo, cache_dir, pool='docs'), holder='alice')
    assert result['failed'] and result['msg'] == "'docs' is not a lock pool: it has neither docs/claimed/ nor docs/unclaimed/"


# -- names that git would read as patterns -------------------------------------------------------------

def test_a_lock_named_like_a_glob_has_its_own_token_and_lease(aws_repo, lock_args):
    pool_lock(lock_args, name='e*', state='present')
    pool_lock(lock_args, name='e1', state='present')
    mine = pool_lock(lock_args, name='e*', holder='bob', lease='2h')
    pool_lock(lock_args, name='e1', holder='alice', lease='1h')
    pool_lock(lock_args, name='e1', holder='alice', state='released')
    pool_lock(lock_args, name='e1', holder='alice', lease='1h')

    shown = {lock['name']: lock for lock in info(lock_args)['pools']['aws']['locks']}
    assert shown['e*']['holder'] == 'bob' and shown['e*']['token'] == mine['lock']['token'] == 1
    assert shown['e*']['expires_at'] == mine['lock']['expires_at']
    assert shown['e1']['token'] == 2
    released = pool_lock(lock_args, name='e*', holder='bob', state='released', token=1)
    assert not released.get('failed'), released
    assert released['changed']


def test_an_expired_lease_on_a_lock_named_with_a_question_mark_is_reaped(aws_repo, lock_args):
    pool_lock(lock_args, name='f?', state='present')
    pool_lock(lock_args, name='fa', state='present')
    pool_lock(lock_args, name='f?', holder='alice', lease='1s')
    pool_lock(lock_args, name='fa', holder='bob')
    time.sleep(1.5)
    result = run_module('pool_reap', lock_args)
    assert [lock['name'] for lock in result['released']] == ['f?']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['fa']


def test_the_holder_of_a_lock_in_a_pool_named_with_a_leading_colon_can_release_it(tmp_path, cache_dir):
    repo = make_lock_repo(tmp_path / 'bare.git', {':p': {'e1': 'a\n'}})
    args = connection(repo, cache_dir, pool=':p')
    pool_lock(args, name='e1', holder='alice')
    assert info(args)['pools'][':p']['locks'][0]['holder'] == 'alice'
    released = pool_lock(args, name='e1', holder='alice', state='released')
    assert not released.get('failed'), released
    assert pool_state(repo, ':p') == {'claimed': [], 'unclaimed': ['e1']}


# -- pool names that are not valid in a ref name: the fair queue ---------------------------------------

@pytest.mark.parametrize('pool', ['staging env', 'a..b', 'x.lock', 't~1', 'c:d', 's*', '[x', 'café'])
def test_a_claim_waits_in_the_fair_queue_of_a_pool_whatever_its_name(git_daemon, tmp_path, pool):
    repo = make_lock_repo(os.path.join(git_daemon.base, 'odd-%d.git' % abs(hash(pool))), {pool: {'e1': 'a\n'}})
    args = {'repo': git_daemon.url(os.path.basename(repo)), 'pool': pool, 'name': 'e1', 'retry_delay': '1s'}
    pool_lock(dict(args, cache_dir=str(tmp_path / 'alice')), holder='alice')
    waiting = _start_claim(dict(args, cache_dir=str(tmp_path / 'bob'), holder='bob', timeout=90))
    try:
        reader = {'repo': args['repo'], 'pool': pool, 'cache_dir': str(tmp_path / 'reader')}
        _wait_until(lambda: info(reader)['pools'][pool]['queue'], waiting)
        pool_lock(dict(args, cache_dir=str(tmp_path / 'alice')), holder='alice', state='released')
        result = _result_of(waiting)
    finally:
        waiting.kill()
    assert not result.get('failed'), result
    assert result['acquired'] and result['lock']['holder'] == 'bob'
    assert git('for-each-ref', 'refs/lockpool/queue/', cwd=repo) == ''


def _start_claim(args):
    return subprocess.Popen(module_command('pool_lock', write_module_args(args)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=module_env())


def _result_of(process):
    stdout, stderr = process.communicate(timeout=120)
    assert stdout, stderr
    return json.loads(stdout)


def _wait_until(condition, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, 'no ticket in the queue within %ss' % timeout
        time.sleep(0.2)


# -- moving twice --------------------------------------------------------------------------------------

@pytest.fixture
def two_pools(tmp_path):
    return make_lock_repo(tmp_path / 'bare.git', {'aws': {'env-1': 'a\n'}, 'gcp': {}})


@pytest.mark.parametrize('check_mode', [False, True])
def test_moving_a_lock_that_is_already_where_it_was_asked_to_go_changes_nothing(two_pools, cache_dir, check_mode):
    args = dict(connection(two_pools, cache_dir, pool='aws'), name='env-1', state='moved', to_pool='gcp')
    assert pool_lock(args)['changed']
    before = refs(two_pools)
    again = run_module('pool_lock', args, check_mode=check_mode)
    assert not again.get('failed'), again
    assert not again['changed']
    assert again['lock']['pool'] == 'gcp' and again['lock']['state'] == 'unclaimed'
    assert refs(two_pools) == before


def test_moving_a_lock_that_is_in_neither_pool_fails(two_pools, cache_dir):
    result = pool_lock(connection(two_pools, cache_dir, pool='aws'), name='env-9', state='moved', to_pool='gcp')
    assert result['failed'] and result['msg'] == "lock 'env-9' does not exist in pool 'aws'"


# -- what is not a lock, an empty repository, a broken pool among sound ones --------------------------

def test_a_symbolic_link_in_a_pool_is_named_for_what_it_is(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'p/unclaimed/e1': 'a\n', 'p/unclaimed/link': ('symlink', 'e1'),
                                                      'p/claimed/.gitkeep': ''})
    args = connection(repo, cache_dir)
    before = refs(repo)
    result = pool_lock(args, name='link', holder='alice')
    assert result['failed'] and result['msg'] == "'link' in p/unclaimed/ is a symbolic link, not a lock (a lock is a plain file)"
    assert refs(repo) == before
    assert pool_lock(args, holder='alice')['lock']['name'] == 'e1'


def test_an_empty_repository_gets_its_branch_and_pool_from_the_first_lock_added(tmp_path, cache_dir):
    repo = str(tmp_path / 'empty.git')
    git('init', '-q', '--bare', repo)
    args = connection(repo, cache_dir, pool='aws')
    added = pool_lock(args, name='env-1', state='present', metadata='region: eu\n')
    assert not added.get('failed'), added
    assert added['changed'] and added['lock']['state'] == 'unclaimed'
    assert tree_paths(repo) == ['aws/claimed/.gitkeep', 'aws/unclaimed/.gitkeep', 'aws/unclaimed/env-1']
    assert pool_lock(args, holder='alice')['lock']['name'] == 'env-1'


def test_an_empty_repository_says_how_to_start_it(tmp_path, cache_dir):
    repo = str(tmp_path / 'empty.git')
    git('init', '-q', '--bare', repo)
    result = info(connection(repo, cache_dir, pool=None))
    assert result['failed'] and 'is empty' in result['msg'] and 'state=present' in result['msg']
    claim = pool_lock(connection(repo, cache_dir, pool='aws'), holder='alice')
    assert claim['failed'] and claim['msg'] == "pool 'aws' does not exist (no directory aws/ in the repository)"
    assert git('for-each-ref', cwd=repo) == ''


def test_reading_every_pool_shows_a_broken_pools_problem_and_the_other_pools(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'aws/unclaimed/env-1': 'a\n', 'aws/claimed/.gitkeep': '',
                                                      'bad/unclaimed/x': 'a\n', 'bad/claimed/x': 'copy\n'})
    result = info(connection(repo, cache_dir, pool=None))
    assert not result.get('failed'), result
    assert result['pools']['aws']['available'] == 1 and result['pools']['aws']['problems'] == []
    assert result['pools']['bad']['problems'] == [
        "lock 'x' is in both bad/claimed/ and bad/unclaimed/; remove one of them by hand"]


def test_a_pool_whose_half_is_a_file_is_shown_with_its_problem_among_the_others(tmp_path, cache_dir):
    repo = make_repo_of_files(tmp_path / 'bare.git', {'aws/unclaimed/env-1': 'a\n', 'bad/claimed': 'a file\n',
                                                      'bad/unclaimed/x': 'a\n'})
    result = info(connection(repo, cache_dir, pool=None))
    assert result['pools']['aws']['available'] == 1
    assert result['pools']['bad'] == dict(available=0, claimed=0, locks=[], queue=[],
                                          problems=["pool 'bad' is not a lock pool: bad/claimed is not a directory"])


def test_the_lookup_refuses_a_lock_name_with_a_slash(aws_repo, cache_dir, tmp_path):
    playbook = tmp_path / 'lookup.yml'
    playbook.write_text('- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                        '    - ansible.builtin.debug:\n'
                        '        msg: "{{ lookup(\'lockpool.git.pool_lock\', \'a/b/c\', repo=repo, cache_dir=cache) }}"\n')
    played = run_playbook(playbook, extra_vars={'repo': aws_repo, 'cache': cache_dir})
    assert played.returncode != 0
    assert "lock name 'b/c' must not contain a path separator" in played.stdout

"""Sharing a repository with Concourse (issue 21): names and updates that both tools can live with.

Every repository here is in the shape Concourse's resource writes (tests/support/concourse.py): lock files of mode
100755 added by its ``out``, its subjects and prefixes; ``concourse_in`` reads a version as its ``in`` does.
"""

import pytest

from support.concourse import concourse_in, concourse_out, make_concourse_repo
from support.modules import run_module, warning_texts
from support.repos import git, head, make_lock_repo, pool_state

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


def pool_lock(args, **more):
    return run_module('pool_lock', dict(args, **more))


def connection(repo, cache_dir, pool='aws'):
    return {'repo': repo, 'cache_dir': cache_dir, 'pool': pool}


# -- 1. locks Concourse named in ways we never would ------------------------------------------------------

def test_a_claim_of_any_lock_may_take_locks_named_head_and_dash_x_and_its_release_gives_them_back(tmp_path, cache_dir):
    args = connection(make_concourse_repo(tmp_path / 'locks.git', {'aws': {'head': 'a: 1\n', '-x': 'a: 2\n'}}), cache_dir)
    claimed = pool_lock(args, holder='alice', count=2)
    assert sorted(lock['name'] for lock in claimed['locks']) == ['-x', 'head']
    released = pool_lock(args, holder='alice', state='released', name=['head', '-x'],
                         token=dict((lock['name'], lock['token']) for lock in claimed['locks']))
    assert not released.get('failed'), released
    assert pool_state(args['repo'], 'aws') == {'claimed': [], 'unclaimed': ['-x', 'head']}


def test_a_lock_named_head_that_concourse_claimed_is_released_with_force_and_removed(tmp_path, cache_dir):
    repo = make_concourse_repo(tmp_path / 'locks.git', {'aws': {'head': 'a: 1\n'}})
    concourse_out(repo, 'claim', 'aws', 'head')
    args = connection(repo, cache_dir)
    released = pool_lock(args, holder='alice', name='head', state='released', force=True)
    assert not released.get('failed'), released
    removed = pool_lock(args, holder='alice', name='head', state='absent')
    assert not removed.get('failed'), removed
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': []}


def test_a_lock_whose_name_a_claim_cannot_carry_is_never_claimed_and_the_info_says_why(tmp_path, cache_dir):
    repo = make_concourse_repo(tmp_path / 'locks.git', {'aws': {'tab\there': 'a: 1\n'}})
    args = connection(repo, cache_dir)
    result = pool_lock(args, holder='alice', wait=False)
    assert not result['acquired'] and pool_state(repo, 'aws')['claimed'] == []
    problems = run_module('pool_lock_info', args)['pools']['aws']['problems']
    assert problems == ["lock 'tab\\there' in aws/unclaimed/ is never taken by a claim of any lock: its name has a control "
                        "character, which the commit of a claim cannot carry (remove it by name, or rename it by hand)"]
    assert not pool_lock(args, holder='alice', name='tab\there', state='absent').get('failed')
    assert git('log', '-1', '--format=%s', 'refs/heads/main', cwd=repo).strip() == 'removing: tab\\x09here'


# -- 2. the holder's update of its own claimed lock -------------------------------------------------------

def test_the_holders_update_keeps_its_claim_and_concourse_in_accepts_the_update(tmp_path, cache_dir):
    args = connection(make_concourse_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'a: 1\n'}}), cache_dir)
    claimed = pool_lock(args, holder='alice', name='env-1', lease='1h')['lock']
    updated = pool_lock(args, holder='alice', name='env-1', state='present', metadata='a: 2\n')['lock']
    assert (updated['token'], updated['expires_at'], updated['holder']) == (claimed['token'], claimed['expires_at'], 'alice')
    assert concourse_in(args['repo'], 'aws', head(args['repo'])) == dict(lock_name='env-1', name='env-1', metadata='a: 2\n', error=None)
    released = pool_lock(args, holder='alice', name='env-1', state='released', token=claimed['token'])
    assert not released.get('failed'), released


# -- 3. names Concourse's scripts cannot read --------------------------------------------------------------

def test_concourse_in_cannot_read_a_lock_named_with_a_space(tmp_path):
    repo = make_concourse_repo(tmp_path / 'locks.git', {'aws': {'env 7': 'a: 1\n'}})
    assert concourse_in(repo, 'aws', head(repo))['name'] is None


def test_adding_a_lock_concourse_cannot_read_to_a_pool_concourse_writes_is_refused(tmp_path, cache_dir):
    args = connection(make_concourse_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'a: 1\n'}}), cache_dir)
    for name, why in (('env 7', 'white space'), ('café-1', 'non-ASCII'), ('e*', 'glob')):
        result = pool_lock(args, name=name, state='present')
        assert result['failed'] and why in result['msg']
        assert result['msg'].startswith("cannot add lock %r to pool 'aws', which Concourse writes to" % name)
    assert pool_state(args['repo'], 'aws')['unclaimed'] == ['env-1']


def test_adding_a_lock_concourse_cannot_read_to_a_pool_of_ours_warns(tmp_path, cache_dir):
    args = connection(make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'a: 1\n'}}), cache_dir)
    result = pool_lock(args, name='env 7', state='present')
    assert result['changed']
    assert any("lock name 'env 7': it has white space" in text and 'could not release it' in text for text in warning_texts(result))


# -- 4. the first lock of a new pool -----------------------------------------------------------------------

def test_concourse_in_of_the_first_lock_added_to_a_new_pool_names_that_lock(tmp_path, cache_dir):
    args = connection(make_concourse_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'a: 1\n'}}), cache_dir, pool='gcp')
    result = pool_lock(args, name='g-1', state='present', metadata='zone: b\n')
    assert concourse_in(args['repo'], 'gcp', result['commit']) == dict(lock_name='g-1', name='g-1', metadata='zone: b\n', error=None)
    assert git('log', '-2', '--format=%s', 'refs/heads/main', cwd=args['repo']).splitlines() == ['adding unclaimed: g-1', 'adding pool: gcp']

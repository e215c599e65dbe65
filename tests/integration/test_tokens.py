"""Fencing tokens: every claim's token is greater than every earlier one; a stale holder cannot free the new holder's lock."""

import time

import pytest

from support.modules import run_module
from support.repos import commit_to, last_message, pool_state

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


def pool_lock(lock_args, **args):
    return run_module('pool_lock', dict(lock_args, **args))


def test_each_claim_of_a_lock_gets_a_greater_token(aws_repo, lock_args):
    tokens = []
    for _round in range(3):
        claimed = pool_lock(lock_args, name='env-1', holder='alice')
        tokens.append(claimed['lock']['token'])
        pool_lock(lock_args, name='env-1', holder='alice', state='released')
    assert tokens == [1, 2, 3]
    assert pool_lock(lock_args, name='env-2', holder='alice')['lock']['token'] == 1


def test_the_token_is_recorded_in_the_claim_commit(aws_repo, lock_args):
    result = pool_lock(lock_args, name='env-1', holder='alice')
    assert 'Lock-Token: aws/env-1 %d' % result['lock']['token'] in last_message(aws_repo).splitlines()


def test_claims_by_concourse_in_between_do_not_restart_the_tokens(aws_repo, lock_args):
    first = pool_lock(lock_args, name='env-1', holder='alice')['lock']['token']
    pool_lock(lock_args, name='env-1', holder='alice', state='released')
    commit_to(aws_repo, 'claiming: env-1', [('mv', 'aws/unclaimed/env-1', 'aws/claimed/env-1')])
    commit_to(aws_repo, 'unclaiming: env-1', [('mv', 'aws/claimed/env-1', 'aws/unclaimed/env-1')])
    assert pool_lock(lock_args, name='env-1', holder='bob')['lock']['token'] > first


def test_a_token_trailer_on_a_commit_that_leaves_the_lock_alone_does_not_count(aws_repo, lock_args):
    first = pool_lock(lock_args, name='env-1', holder='alice')['lock']['token']
    pool_lock(lock_args, name='env-1', holder='alice', state='released')
    commit_to(aws_repo, 'notes\n\nLock-Token: aws/env-1 99', [('write', 'aws/unclaimed/env-2', 'changed\n')])
    assert pool_lock(lock_args, name='env-1', holder='bob')['lock']['token'] == first + 1


def test_release_with_the_current_token_releases(aws_repo, lock_args):
    token = pool_lock(lock_args, name='env-1', holder='alice')['lock']['token']
    result = pool_lock(lock_args, name='env-1', holder='alice', state='released', token=token)
    assert result['changed'] and pool_state(aws_repo, 'aws')['claimed'] == []


def test_a_stale_holders_release_after_a_reap_fails_and_the_new_holder_keeps_the_lock(aws_repo, lock_args):
    stale = pool_lock(lock_args, name='env-1', holder='alice', lease='1s')['lock']['token']
    time.sleep(1.5)
    assert run_module('pool_reap', lock_args)['changed']
    new = pool_lock(lock_args, name='env-1', holder='bob')['lock']['token']
    assert new > stale
    result = pool_lock(lock_args, name='env-1', state='released', token=stale)
    assert result['failed']
    assert result['msg'] == ("cannot release lock 'env-1' in pool 'aws' with token %d: that claim is over, "
                             "it is claimed again with token %d by bob" % (stale, new))
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    assert pool_lock(lock_args, name='env-1', holder='bob', wait=False)['lock']['holder'] == 'bob'


def test_release_with_a_token_of_a_lock_no_longer_claimed_fails(aws_repo, lock_args):
    token = pool_lock(lock_args, name='env-1', holder='alice')['lock']['token']
    pool_lock(lock_args, name='env-1', holder='alice', state='released')
    result = pool_lock(lock_args, name='env-1', holder='alice', state='released', token=token)
    assert result['failed'] and 'that claim is over, it is not claimed any more' in result['msg']


def test_a_moved_lock_keeps_counting_in_its_new_pool(aws_repo, lock_args):
    pool_lock(dict(lock_args, pool='gcp'), name='g-1', state='present')
    pool_lock(lock_args, name='env-1', holder='alice')
    token = pool_lock(lock_args, name='env-1', holder='alice')['lock']['token']
    pool_lock(lock_args, name='env-1', holder='alice', state='moved', to_pool='gcp')
    assert pool_lock(dict(lock_args, pool='gcp'), name='env-1', holder='bob')['lock']['token'] == token + 1


def test_the_holders_update_of_its_locks_metadata_keeps_the_claims_token_and_lease(aws_repo, lock_args):
    claimed = pool_lock(lock_args, name='env-1', holder='alice', lease='1h')['lock']
    updated = pool_lock(lock_args, name='env-1', holder='alice', state='present', metadata='region: moved\n')
    assert updated['changed']
    assert (updated['lock']['token'], updated['lock']['expires_at']) == (claimed['token'], claimed['expires_at'])
    released = pool_lock(lock_args, name='env-1', holder='alice', state='released', token=claimed['token'])
    assert not released.get('failed'), released
    assert released['changed']

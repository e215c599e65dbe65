"""Every answer is the server's: a machine whose cache is older than the server decides, and refuses, on the server's state.

Two cache directories stand for two machines (two AWX nodes) sharing one lock repository.
"""

import pytest

from support.modules import run_module
from support.repos import pool_state

pytestmark = pytest.mark.usefixtures('both_paths')  # every behaviour as a module process and in-process on the controller


def machine(lock_args, name, tmp_path):
    return dict(lock_args, cache_dir=str(tmp_path / name))


def test_a_lock_claimed_on_one_machine_is_released_from_another_whose_cache_is_older(aws_repo, lock_args, tmp_path):
    first, second = machine(lock_args, 'node-1', tmp_path), machine(lock_args, 'node-2', tmp_path)
    assert run_module('pool_lock', dict(second, name='env-1', holder='bob'))['acquired']
    assert run_module('pool_lock', dict(first, name='env-1', holder='bob', state='released'))['changed']
    assert run_module('pool_lock', dict(first, name='env-1', holder='alice'))['acquired']  # node-2 still sees bob's claim
    released = run_module('pool_lock', dict(second, name='env-1', holder='alice', state='released'))
    assert released.get('changed') is True and not released.get('failed'), released
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_a_lock_added_on_another_machine_is_found_by_one_whose_cache_is_older(aws_repo, lock_args, tmp_path):
    first, second = machine(lock_args, 'node-1', tmp_path), machine(lock_args, 'node-2', tmp_path)
    assert run_module('pool_lock', dict(second, name='env-1', holder='bob'))['acquired']
    assert run_module('pool_lock', dict(first, name='env-3', state='present'))['changed']
    claimed = run_module('pool_lock', dict(second, name='env-3', holder='bob'))
    assert claimed.get('acquired') is True, claimed
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1', 'env-3']


def test_a_refusal_is_still_made_when_the_server_agrees(aws_repo, lock_args, tmp_path):
    first, second = machine(lock_args, 'node-1', tmp_path), machine(lock_args, 'node-2', tmp_path)
    assert run_module('pool_lock', dict(first, name='env-1', holder='bob'))['acquired']
    refused = run_module('pool_lock', dict(second, name='env-1', holder='alice', state='released'))
    assert refused['failed'] and 'bob' in refused['msg']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']

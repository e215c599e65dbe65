"""Lock files whose YAML JSON cannot carry (dates, binary, sets, non-text keys, infinity) or that would expand without
bound (a billion laughs): claims, releases, pool_lock_info and the lookup on them, against real repositories.

A claim's result is made after its push: a result that cannot reach Ansible would leave the lock claimed by a task
that failed."""

import json

import pytest

from support.modules import run_module
from support.repos import make_lock_repo, pool_state

from test_lookup_pool_lock import lookup_results

UNUSUAL = ('maintenance: {2024-06-01: kernel upgrade}\n'
           'checked: 2024-06-01T10:30:00Z\n'
           'key: !!binary aGVsbG8=\n'
           'zones: !!set {b, a}\n'
           '404: not found\n'
           'limit: .inf\n')
UNUSUAL_DATA = {'maintenance': {'2024-06-01': 'kernel upgrade'}, 'checked': '2024-06-01T10:30:00+00:00', 'key': 'aGVsbG8=',
                'zones': ['a', 'b'], '404': 'not found', 'limit': '.inf'}
BILLION_LAUGHS = ''.join('%s: &%s [%s]\n' % (name, name, ','.join([previous] * 9)) for name, previous in [
    ('a', '"lol"'), ('b', '*a'), ('c', '*b'), ('d', '*c'), ('e', '*d'), ('f', '*e')])


@pytest.fixture
def odd_repo(tmp_path):
    return make_lock_repo(tmp_path / 'odd.git', {'aws': {'env-1': UNUSUAL, 'env-2': BILLION_LAUGHS}})


def lock_args(repo, cache_dir, **args):
    return dict(args, repo=repo, cache_dir=cache_dir, pool='aws', holder='alice')


@pytest.mark.parametrize('name, data', [('env-1', UNUSUAL_DATA), ('env-2', None)], ids=['unusual-yaml', 'billion-laughs'])
def test_a_claim_and_its_release_return_what_json_carries(odd_repo, cache_dir, name, data):
    claimed = run_module('pool_lock', lock_args(odd_repo, cache_dir, name=name))
    assert not claimed.get('failed'), claimed.get('msg')
    assert (claimed['lock']['state'], claimed['lock']['data']) == ('claimed', data)
    released = run_module('pool_lock', lock_args(odd_repo, cache_dir, name=name, state='released'))
    assert not released.get('failed'), released.get('msg')
    assert pool_state(odd_repo, 'aws')['claimed'] == []


def test_pool_lock_info_shows_every_lock_of_such_a_pool(odd_repo, cache_dir):
    run_module('pool_lock', lock_args(odd_repo, cache_dir, name='env-1'))
    result = run_module('pool_lock_info', dict(repo=odd_repo, cache_dir=cache_dir, pool='aws'))
    assert not result.get('failed'), result.get('msg')
    locks = dict((lock['name'], lock) for lock in result['pools']['aws']['locks'])
    assert (locks['env-1']['state'], locks['env-1']['data']) == ('claimed', UNUSUAL_DATA)
    assert (locks['env-2']['data'], locks['env-2']['metadata']) == (None, BILLION_LAUGHS)


def test_the_lookup_returns_data_json_carries_and_a_billion_laughs_as_its_text(odd_repo, tmp_path):
    value, completed = lookup_results(tmp_path, "query('lockpool.git.pool_lock', 'aws/env-1', 'aws/env-2', repo=lock_repo)",
                                      {'lock_repo': odd_repo})
    assert completed.returncode == 0, completed.stdout
    assert value == [UNUSUAL_DATA, BILLION_LAUGHS]
    assert json.loads(json.dumps(value, allow_nan=False)) == value

"""The pool_lock lookup, run by real playbooks and ad-hoc commands against real repositories."""

import json

import pytest

from support.modules import run_adhoc, run_playbook
from support.repos import make_lock_repo


@pytest.fixture
def env_repo(tmp_path):
    return make_lock_repo(tmp_path / 'env.git', {
        'aws': {'env-1': 'region: eu-west-1\nurl: https://env-1.example.com\n', 'env-2': '{"region": "us-east-1"}\n',
                'notes': 'just text\n'},
        'gcp': {'g-1': '- a\n- b\n'},
    })


def lookup_results(tmp_path, expression, extra_vars=None, env=None):
    """Run a playbook that writes ``expression`` as JSON; returns (the value, CompletedProcess)."""
    output = tmp_path / 'result.json'
    playbook = tmp_path / 'lookup.yml'
    playbook.write_text(
        '- hosts: localhost\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - ansible.builtin.copy:\n'
        '        content: "{{ %s | to_json }}"\n'
        '        dest: %s\n' % (expression, output))
    completed = run_playbook(playbook, extra_vars=extra_vars, env=env)
    return (json.loads(output.read_text()) if completed.returncode == 0 else None), completed


@pytest.fixture
def lookup(tmp_path, env_repo):
    def run(expression, env=None):
        return lookup_results(tmp_path, expression, {'lock_repo': env_repo, 'cache': str(tmp_path / 'cache')}, env)
    return run


def test_metadata_of_a_lock_as_data(lookup):
    value, _completed = lookup("lookup('lockpool.git.pool_lock', 'env-1', pool='aws', repo=lock_repo, cache_dir=cache)")
    assert value == {'region': 'eu-west-1', 'url': 'https://env-1.example.com'}


def test_json_metadata_as_data(lookup):
    value, _completed = lookup("lookup('lockpool.git.pool_lock', 'env-2', pool='aws', repo=lock_repo, cache_dir=cache)")
    assert value == {'region': 'us-east-1'}


def test_parse_false_returns_the_lock_file_text(lookup):
    value, _completed = lookup("lookup('lockpool.git.pool_lock', 'env-2', pool='aws', parse=false, repo=lock_repo, cache_dir=cache)")
    assert value == '{"region": "us-east-1"}\n'


def test_metadata_that_is_not_a_mapping_or_list_is_text(lookup):
    value, _completed = lookup("lookup('lockpool.git.pool_lock', 'notes', pool='aws', repo=lock_repo, cache_dir=cache)")
    assert value == 'just text\n'


def test_pool_slash_lock_terms_need_no_pool_option_and_several_give_a_list(lookup):
    value, _completed = lookup("query('lockpool.git.pool_lock', 'aws/env-2', 'gcp/g-1', repo=lock_repo, cache_dir=cache)")
    assert value == [{'region': 'us-east-1'}, ['a', 'b']]


def test_repository_from_the_environment(lookup, env_repo):
    value, _completed = lookup("lookup('lockpool.git.pool_lock', 'gcp/g-1', cache_dir=cache)", env={'LOCKPOOL_REPO': env_repo})
    assert value == ['a', 'b']


def test_a_missing_lock_names_the_lock_and_the_pool(lookup):
    _value, completed = lookup("lookup('lockpool.git.pool_lock', 'env-9', pool='aws', repo=lock_repo, cache_dir=cache)")
    assert completed.returncode != 0
    assert "cannot read lock 'env-9' of pool 'aws': lock 'env-9' does not exist in pool 'aws'" in completed.stdout


def test_a_missing_pool_names_the_lock_and_the_pool(lookup):
    _value, completed = lookup("lookup('lockpool.git.pool_lock', 'azure/env-1', repo=lock_repo, cache_dir=cache)")
    assert completed.returncode != 0
    assert "cannot read lock 'env-1' of pool 'azure': pool 'azure' does not exist" in completed.stdout


def test_an_unreachable_repository_names_the_lock_and_the_pool(lookup, tmp_path):
    missing = str(tmp_path / 'missing.git')
    _value, completed = lookup("lookup('lockpool.git.pool_lock', 'aws/env-1', repo='%s', cache_dir=cache)" % missing)
    assert completed.returncode != 0
    assert "cannot read lock 'env-1' of pool 'aws': cannot read lock repository %s" % missing in completed.stdout


def test_a_term_without_a_pool_is_refused(lookup):
    _value, completed = lookup("lookup('lockpool.git.pool_lock', 'env-1', repo=lock_repo, cache_dir=cache)")
    assert completed.returncode != 0
    assert "lock 'env-1' names no pool" in completed.stdout


def test_adhoc_debug_of_a_lookup(env_repo, tmp_path):
    completed = run_adhoc('debug', "msg={{ lookup('lockpool.git.pool_lock', 'aws/env-1', repo='%s', cache_dir='%s').url }}"
                          % (env_repo, tmp_path / 'cache'))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '"msg": "https://env-1.example.com"' in completed.stdout

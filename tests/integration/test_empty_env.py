"""A LOCKPOOL_* variable that is set but empty counts as not set, in the modules and the lookup alike.

AWX injects an empty string for every field of a credential left blank; the option must then take its default,
not be '' (``branch ''``), a parse error (``accept_new_host_keys``, ``ssl_verify``, ``git_config``) or the current
directory (``private_key_file``, ``cache_dir``).
"""

import json
import os

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC

from support.modules import run_module, run_playbook

# Every option's variable but LOCKPOOL_REPO, which has no default (test_an_empty_lockpool_repo_names_no_repository).
EMPTY_VARIABLES = sorted('LOCKPOOL_' + name.upper() for name in CONNECTION_ARGUMENT_SPEC if name != 'repo')

READ_BOTH_WAYS = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the pools with the module
      lockpool.git.pool_lock_info:
        repo: "{{ lock_repo }}"
      register: info

    - name: Read a lock's metadata with the lookup
      ansible.builtin.copy:
        content: "{{ {'pools': info.pools | list, 'env-1': lookup('lockpool.git.pool_lock', 'aws/env-1', repo=lock_repo)} | to_json }}"
        dest: "{{ output }}"
'''


@pytest.fixture
def read_both_ways(tmp_path, aws_repo):
    """Run READ_BOTH_WAYS with ``env``; (what the module and the lookup read, ansible-playbook's output)."""
    playbook = tmp_path / 'read.yml'
    playbook.write_text(READ_BOTH_WAYS)
    output = tmp_path / 'read.json'

    def run(env):
        # No cache_dir option anywhere: the default cache directory is under XDG_CACHE_HOME.
        env = dict(env, XDG_CACHE_HOME=str(tmp_path / 'xdg'))
        completed = run_playbook(playbook, {'lock_repo': aws_repo, 'output': str(output)}, env=env)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return json.loads(output.read_text()), completed.stdout
    return run


@pytest.mark.parametrize('variable', EMPTY_VARIABLES)
def test_an_empty_variable_leaves_the_option_to_its_default_in_the_module_and_the_lookup(variable, read_both_ways):
    read, _output = read_both_ways({variable: ''})
    assert read == {'pools': ['aws'], 'env-1': {'region': 'eu-west-1'}}


def test_every_variable_empty_at_once_as_awx_injects_a_blank_credential(read_both_ways):
    read, _output = read_both_ways(dict.fromkeys(EMPTY_VARIABLES, ''))
    assert read == {'pools': ['aws'], 'env-1': {'region': 'eu-west-1'}}


def lookup_playbook(tmp_path, options=", repo=lock_repo"):
    """A playbook that shows what the lookup reads of aws/env-1 with ``options``."""
    playbook = tmp_path / 'lookup.yml'
    playbook.write_text('- hosts: localhost\n'
                        '  gather_facts: false\n'
                        '  tasks:\n'
                        '    - ansible.builtin.debug:\n'
                        '        msg: "{{ lookup(\'lockpool.git.pool_lock\', \'aws/env-1\'%s) }}"\n' % options)
    return playbook


def test_an_empty_lockpool_cache_dir_gives_the_lookup_the_default_cache_directory(aws_repo, tmp_path):
    completed = run_playbook(lookup_playbook(tmp_path), {'lock_repo': aws_repo},
                             env={'LOCKPOOL_CACHE_DIR': '', 'XDG_CACHE_HOME': str(tmp_path / 'xdg')})
    assert completed.returncode == 0, completed.stdout
    assert [name for name in os.listdir(tmp_path / 'xdg' / 'lockpool') if name.endswith('.git')]


def test_an_empty_lockpool_repo_gives_the_module_no_repository(tmp_path):
    result = run_module('pool_lock_info', {}, env={'LOCKPOOL_REPO': '', 'XDG_CACHE_HOME': str(tmp_path / 'xdg')})
    assert result['failed'] and result['msg'] == 'missing required arguments: repo'


def test_an_empty_lockpool_repo_gives_the_lookup_no_repository(tmp_path):
    completed = run_playbook(lookup_playbook(tmp_path, options=''),
                             env={'LOCKPOOL_REPO': '', 'XDG_CACHE_HOME': str(tmp_path / 'xdg')})
    assert completed.returncode != 0
    assert "'lockpool.git.pool_lock' failed: missing required arguments: repo" in completed.stdout, completed.stdout


@pytest.mark.parametrize('git_config', ['{"protocol.allow": "never"}', 'protocol.allow=never'])
def test_the_lookup_reads_lockpool_git_config_as_the_modules_do(git_config, aws_repo, tmp_path):
    # protocol.allow=never makes git refuse even a local path: proof that the setting reached git.
    completed = run_playbook(lookup_playbook(tmp_path), {'lock_repo': aws_repo},
                             env={'LOCKPOOL_GIT_CONFIG': git_config, 'XDG_CACHE_HOME': str(tmp_path / 'xdg')})
    assert completed.returncode != 0
    assert "transport 'file' not allowed" in completed.stdout, completed.stdout

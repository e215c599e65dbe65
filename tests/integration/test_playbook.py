"""pool_lock from a real playbook, with the connection set once through the action group."""

import os

from support.modules import run_playbook
from support.repos import git, pool_state, read_lock

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')


def test_a_playbook_runs_every_operation_through_module_defaults(aws_repo, cache_dir):
    result = run_playbook(os.path.join(PLAYBOOKS, 'lifecycle.yml'), {'lock_repo': aws_repo, 'lock_cache': cache_dir})
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'again_changed=False' in result.stdout
    assert 'env3.region=ap-south-1' in result.stdout
    assert 'changed=8 ' in result.stdout
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2', 'env-3']}
    assert read_lock(aws_repo, 'aws/unclaimed/env-3') == 'region: ap-south-2\n'
    subjects = git('log', '--format=%s', 'refs/heads/main', cwd=aws_repo).split('\n')
    any_lock = subjects[4].split(': ')[1]
    assert any_lock in ('env-1', 'env-2')
    assert subjects[:8] == ['unclaiming: ' + any_lock, 'removing: env-4', 'updating: env-3', 'unclaiming: env-3',
                            'claiming: ' + any_lock, 'claiming: env-3', 'adding claimed: env-4', 'adding unclaimed: env-3']

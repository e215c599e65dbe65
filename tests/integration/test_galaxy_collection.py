"""The collection as ansible-galaxy builds and installs it: the tarball alone runs the example playbook.

The tarball is installed into a fresh collections path and used from a directory outside the repository,
with ANSIBLE_COLLECTIONS_PATH naming only that path and no PYTHONPATH, so nothing of the work tree is found.
"""

import glob
import os
import subprocess

import pytest

from support.modules import PYTHON, ROOT
from support.repos import make_lock_repo, pool_state

BIN = os.path.dirname(PYTHON)


def run(command, cwd, env=None, timeout=300):
    completed = subprocess.run(command, cwd=str(cwd), env=env, check=False, capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return completed


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(collections path, clean environment) with the built tarball installed there."""
    base = tmp_path_factory.mktemp('galaxy')
    collections = base / 'collections'
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH' and not key.startswith('ANSIBLE_')}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0', PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(base / 'dist')], ROOT, env)
    tarball, = glob.glob(str(base / 'dist' / 'lockpool-git-*.tar.gz'))
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', tarball, '-p', str(collections)], base, env)
    return collections, env


def test_the_tarball_leaves_out_the_work_tree_s_own_files(installed):
    collection, _collections_path = installed
    root = collection / 'ansible_collections' / 'lockpool' / 'git'
    assert (root / 'roles' / 'with_lock' / 'meta' / 'argument_specs.yml').is_file()
    assert (root / 'playbooks' / 'reserve_and_run.yml').is_file()
    for left_out in ('.venv', 'build', '.pytest_cache', 'ISSUE-5.md'):
        assert not (root / left_out).exists(), left_out


def test_the_installed_example_playbook_holds_a_lock_and_releases_it(installed, tmp_path):
    collections, env = installed
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n'}})
    env = dict(env, LOCKPOOL_REPO=repo, LOCKPOOL_CACHE_DIR=str(tmp_path / 'cache'))
    completed = run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                     '-e', 'ansible_python_interpreter=%s' % PYTHON, '-e', 'pool_lock_pool=aws',
                     'lockpool.git.reserve_and_run'], tmp_path, env)
    installed_role = str(collections / 'ansible_collections' / 'lockpool' / 'git' / 'roles' / 'with_lock')
    assert 'included: %s/tasks/acquire.yml' % installed_role in completed.stdout
    assert 'holds aws/env-1 (region: eu-west-1)' in completed.stdout
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}


def test_an_execution_environment_gets_gitpython_prometheus_client_git_and_ssh(installed):
    collections, env = installed
    completed = run([os.path.join(BIN, 'ansible-builder'), 'introspect', str(collections)], collections, env)
    python_section, system_section = completed.stdout.split('system:', 1)
    for package in ('GitPython', 'prometheus-client'):  # PyYAML comes with ansible-core
        assert '%s>=' % package in python_section
    for package in ('git ', 'openssh-client '):
        assert package in system_section

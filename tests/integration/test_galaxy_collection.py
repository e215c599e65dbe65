"""The collection as ansible-galaxy builds and installs it: the tarball alone runs the example playbook.

The tarball is installed into a fresh collections path and used from a directory outside the repository,
with ANSIBLE_COLLECTIONS_PATH naming only that path and no PYTHONPATH, so nothing of the work tree is found.
galaxy-importer, what Galaxy runs on every upload, checks the same tarball (its settings: galaxy-importer.cfg here).
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


IMPORTER_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'galaxy-importer.cfg')


def clean_env(collections):
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH' and not key.startswith('ANSIBLE_')}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0', PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    return env


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    """The tarball ``ansible-galaxy collection build`` makes of the work tree."""
    dist = tmp_path_factory.mktemp('dist')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(dist)], ROOT, clean_env(dist))
    built, = glob.glob(str(dist / 'lockpool-git-*.tar.gz'))
    return built


@pytest.fixture(scope='module')
def installed(tmp_path_factory, tarball):
    """(collections path, clean environment) with the built tarball installed there."""
    base = tmp_path_factory.mktemp('galaxy')
    collections = base / 'collections'
    env = clean_env(collections)
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', tarball, '-p', str(collections)], base, env)
    return collections, env


def test_galaxy_importer_accepts_the_tarball_without_a_warning(tarball, tmp_path):
    env = dict(clean_env(tmp_path / 'importer-collections'), GALAXY_IMPORTER_CONFIG=IMPORTER_CONFIG)
    completed = run([PYTHON, '-m', 'galaxy_importer.main', tarball], tmp_path, env)
    output = completed.stdout + completed.stderr
    assert 'Importer processing completed successfully' in output, output
    assert 'Linting collection via ansible-lint' in output, output
    complaints = [line for line in output.splitlines() if line.startswith(('WARNING', 'ERROR'))]
    assert complaints == [], output


def test_the_tarball_leaves_out_the_work_tree_s_own_files(installed):
    collections, _env = installed
    root = collections / 'ansible_collections' / 'lockpool' / 'git'
    assert (root / 'roles' / 'with_lock' / 'meta' / 'argument_specs.yml').is_file()
    assert (root / 'playbooks' / 'reserve_and_run.yml').is_file()
    assert (root / 'meta' / 'execution-environment.yml').is_file()
    assert (root / 'changelogs' / 'changelog.yaml').is_file()
    for left_out in ('.venv', 'build', '.pytest_cache', 'ISSUE-5.md', 'tests', 'bench', 'extensions', 'demo',
                     'Makefile', 'requirements-dev.txt', '.ansible-lint'):
        assert not (root / left_out).exists(), left_out


def test_the_installed_example_playbook_holds_a_lock_and_releases_it(installed, tmp_path):
    collections, env = installed
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n'}})
    env = dict(env, LOCKPOOL_REPO=repo, LOCKPOOL_CACHE_DIR=str(tmp_path / 'cache'))
    completed = run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                     '-e', 'ansible_python_interpreter=%s' % PYTHON, '-e', 'with_lock_pool=aws',
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

"""What a pool_lock run imports: the Pushgateway's libraries only when it pushes metrics, PyYAML only for metadata
(each run is a process, and pays for every import)."""

import json
import os
import subprocess

from support.modules import PYTHON, module_env, write_module_args
from support.repos import make_lock_repo, pool_state

MODULE = 'ansible_collections.lockpool.git.plugins.modules.pool_lock'


def run(python_arguments, module_args):
    """(result, stderr) of ``python <python_arguments> <file of module_args>``."""
    path = write_module_args(module_args)
    try:
        completed = subprocess.run([PYTHON] + python_arguments + [path], capture_output=True, text=True, env=module_env(),
                                   check=False)
    finally:
        os.unlink(path)
    return json.loads(completed.stdout), completed.stderr


def imported_modules(importtime_stderr):
    return [line.rsplit('|', 1)[-1].strip() for line in importtime_stderr.splitlines() if line.startswith('import time:')]


def test_a_run_without_a_pushgateway_imports_neither_prometheus_client_nor_ansible_urls(lock_args):
    result, stderr = run(['-X', 'importtime', '-m', MODULE], dict(lock_args, name='env-1', holder='alice'))

    assert result['changed']
    imported = imported_modules(stderr)
    assert 'git' in imported
    assert [name for name in imported if name.startswith(('prometheus_client', 'ansible.module_utils.urls'))] == []


def test_a_pushgateway_without_prometheus_client_fails_before_changing_anything(lock_args, aws_repo):
    without_client = ("import runpy, sys; sys.modules['prometheus_client'] = None; "
                      "runpy.run_module(%r, run_name='__main__')" % MODULE)
    args = dict(lock_args, name='env-1', holder='alice', prometheus_push_gateway='http://127.0.0.1:9')

    result, _stderr = run(['-c', without_client], args)

    assert result['failed']
    assert 'prometheus-client' in result['msg']
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_a_run_on_a_lock_without_metadata_does_not_import_pyyaml(tmp_path, cache_dir):
    repo = make_lock_repo(tmp_path / 'plain.git', {'aws': {'env-1': ''}})
    result, stderr = run(['-X', 'importtime', '-m', MODULE],
                         {'repo': repo, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1', 'holder': 'alice'})

    assert result['changed']
    assert result['lock']['data'] is None
    assert 'yaml' not in imported_modules(stderr)


def test_a_run_on_a_lock_with_metadata_parses_it_with_pyyaml(lock_args):
    result, stderr = run(['-X', 'importtime', '-m', MODULE], dict(lock_args, name='env-1', holder='alice'))

    assert result['lock']['data'] == {'region': 'eu-west-1'}
    assert 'yaml' in imported_modules(stderr)

"""Run the collection's modules as Ansible runs them: a separate Python process given its arguments."""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
PYTHON = os.environ.get('LOCKPOOL_PYTHON') or sys.executable


def module_env(extra=None):
    env = dict(os.environ)
    env['PYTHONPATH'] = COLLECTIONS
    env['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS
    env.update(extra or {})
    return env


def run_module(name, args, check_mode=False, diff=False, env=None, timeout=120):
    """Run ``lockpool.git.<name>`` with ``args``; returns its JSON result (``failed`` set on a failure)."""
    module_args = dict(args)
    module_args['_ansible_check_mode'] = check_mode
    module_args['_ansible_diff'] = diff
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
        path = handle.name
    try:
        completed = subprocess.run(
            [PYTHON, '-m', 'ansible_collections.lockpool.git.plugins.modules.' + name, path],
            capture_output=True, text=True, env=module_env(env), timeout=timeout)
    finally:
        os.unlink(path)
    try:
        result = json.loads(completed.stdout)
    except ValueError:
        raise AssertionError('module printed no JSON (rc=%s): %s %s' % (completed.returncode, completed.stdout, completed.stderr))
    result['rc'] = completed.returncode
    result['stderr'] = completed.stderr
    return result


def _ansible_env(env=None):
    ansible_env = module_env(dict(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_STDOUT_CALLBACK='default',
                                  ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0'))
    ansible_env.update(env or {})
    return ansible_env


def run_adhoc(module, args, env=None, timeout=300):
    """Run ``ansible localhost -m module -a args`` with the virtualenv's Python; returns CompletedProcess."""
    command = [os.path.join(os.path.dirname(PYTHON), 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % PYTHON, '-m', module, '-a', args]
    return subprocess.run(command, capture_output=True, text=True, env=_ansible_env(env), timeout=timeout)


def run_playbook(playbook, extra_vars=None, env=None, timeout=300, verbosity=0, check=False):
    """Run ``ansible-playbook`` on localhost with the virtualenv's Python; returns CompletedProcess."""
    command = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % PYTHON, str(playbook)]
    if verbosity:
        command.append('-' + 'v' * verbosity)
    if check:
        command.append('--check')
    for key, value in (extra_vars or {}).items():
        command += ['-e', json.dumps({key: value})]
    return subprocess.run(command, capture_output=True, text=True, env=_ansible_env(env), timeout=timeout)

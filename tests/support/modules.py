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


class RunningModule(object):
    """A module started in the background; ``result()`` waits for it and returns its JSON result."""

    def __init__(self, process, args_path):
        self.process = process
        self._args_path = args_path

    def result(self, timeout=120):
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        finally:
            if self.process.poll() is not None:
                os.unlink(self._args_path)
        try:
            result = json.loads(stdout)
        except ValueError:
            raise AssertionError('module printed no JSON (rc=%s): %s %s' % (self.process.returncode, stdout, stderr))
        result['rc'] = self.process.returncode
        result['stderr'] = stderr
        return result

    def kill(self):
        """SIGKILL: the module gets no chance to clean up, as when a machine or a CI agent dies."""
        self.process.kill()
        self.process.wait()
        os.unlink(self._args_path)


def write_module_args(args, check_mode=False, diff=False):
    """The file Ansible would hand the module: ``args`` as ANSIBLE_MODULE_ARGS. Returns its path."""
    module_args = dict(args)
    module_args['_ansible_check_mode'] = check_mode
    module_args['_ansible_diff'] = diff
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
        return handle.name


# How pool_lock runs: 'module' (a process of its own, as on any host) or 'in-process' (its main() inside the caller,
# as its action plugin runs it on the controller); tests that use the fixture ``both_paths`` run on each.
PATHS = ('module', 'in-process')
pool_lock_path = 'module'


def module_command(name, args_path):
    if name == 'pool_lock' and pool_lock_path == 'in-process':
        return [PYTHON, '-m', 'support.in_process_module', args_path]
    return [PYTHON, '-m', 'ansible_collections.lockpool.git.plugins.modules.' + name, args_path]


def start_module(name, args, check_mode=False, diff=False, env=None):
    """Start ``lockpool.git.<name>`` with ``args`` in the background; returns a RunningModule."""
    path = write_module_args(args, check_mode, diff)
    env = module_env(env)
    env['PYTHONPATH'] += os.pathsep + os.path.dirname(HERE)  # support.in_process_module
    process = subprocess.Popen(module_command(name, path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    return RunningModule(process, path)


def run_module(name, args, check_mode=False, diff=False, env=None, timeout=120):
    """Run ``lockpool.git.<name>`` with ``args``; returns its JSON result (``failed`` set on a failure)."""
    running = start_module(name, args, check_mode=check_mode, diff=diff, env=env)
    try:
        return running.result(timeout)
    except subprocess.TimeoutExpired:
        running.kill()
        raise


def _ansible_env(env=None):
    # An absolute async dir: with HOME set elsewhere than the user's passwd home (a CI sandbox), Ansible would
    # write an async job's results under one home and look for them under the other.
    ansible_env = module_env(dict(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_STDOUT_CALLBACK='default',
                                  ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
                                  ANSIBLE_ASYNC_DIR=os.path.join(os.path.expanduser('~'), '.ansible_async')))
    ansible_env.update(env or {})
    return ansible_env


def run_adhoc(module, args, env=None, timeout=300):
    """Run ``ansible localhost -m module -a args`` with the virtualenv's Python; returns CompletedProcess."""
    command = [os.path.join(os.path.dirname(PYTHON), 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % PYTHON, '-m', module, '-a', args]
    return subprocess.run(command, capture_output=True, text=True, env=_ansible_env(env), timeout=timeout, check=False)


def run_playbook(playbook, extra_vars=None, env=None, timeout=300, verbosity=0, check=False, diff=False):
    """Run ``ansible-playbook`` on localhost with the virtualenv's Python; returns CompletedProcess."""
    command = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % PYTHON, str(playbook)]
    if verbosity:
        command.append('-' + 'v' * verbosity)
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    for key, value in (extra_vars or {}).items():
        command += ['-e', json.dumps({key: value})]
    return subprocess.run(command, capture_output=True, text=True, env=_ansible_env(env), timeout=timeout, check=False)


def warning_texts(result):
    """The warnings' messages, whether Ansible returns them as text or as warning summaries."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]

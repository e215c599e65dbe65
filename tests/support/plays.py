"""Plays run and stopped as schedulers run and stop them, and what a test waits for meanwhile.

ansible-runner (and AWX through it), CI runners and ``timeout`` start ``ansible-playbook`` as the leader of a
process group of its own and stop it by signalling that group: SIGINT or SIGTERM, then SIGKILL. Ansible's
workers setsid() out of that group and async tasks are daemonized, so what they run outlives the kill.
"""

import os
import signal
import subprocess
import time

import yaml

from support.modules import PYTHON, _ansible_env
from support.repos import git


class Play(object):
    """``ansible-playbook`` started in a process group of its own, its output in ``log``."""

    def __init__(self, playbook, log, extra_vars=None, env=None):
        command = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                   '-e', 'ansible_python_interpreter=%s' % PYTHON, str(playbook)]
        for key, value in (extra_vars or {}).items():
            command += ['-e', '%s=%s' % (key, value)]
        self.log = str(log)
        with open(self.log, 'w') as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=_ansible_env(env),
                                            start_new_session=True)

    def kill_group(self, signum=signal.SIGKILL):
        """Signal the play's process group, as a scheduler cancels a job; reaps the controller once it is gone."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGKILL:
            self.process.wait(timeout=30)

    def wait(self, timeout=300):
        return self.process.wait(timeout=timeout)

    def output(self):
        with open(self.log) as handle:
            return handle.read()


def write_play(path, tasks, play_vars=None):
    path.write_text(yaml.safe_dump([{'name': 'Hold an environment', 'hosts': 'localhost', 'gather_facts': False,
                                     'vars': play_vars or {}, 'tasks': tasks}], sort_keys=False))
    return path


def wait_until(predicate, timeout, every=0.1, what='the condition'):
    """Seconds until ``predicate()`` is true; fails after ``timeout`` seconds."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError('%s did not happen within %gs' % (what, timeout))
        time.sleep(every)
    return time.monotonic() - started


def refs(bare, prefix):
    return [line for line in git('--git-dir', str(bare), 'for-each-ref', '--format=%(refname)', prefix).splitlines() if line]


def queue_tickets(bare):
    return refs(bare, 'refs/lockpool/queue/')


def lease_renewals(bare):
    return refs(bare, 'refs/lockpool/leases/')

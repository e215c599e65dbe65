"""How often the pool_lock lookup asks the server, counted by a real git daemon (``--verbose`` logs each request)."""

import re
import subprocess

import pytest

from support.modules import run_playbook
from support.repos import make_lock_repo
from support.servers import free_port, stop, wait_for_port
from test_reading_pools_docs import examples


class CountingGitDaemon(object):
    """git daemon serving ``base``, writing every request it gets to a log: ``reads()`` counts them."""

    def __init__(self, base, log):
        self.base, self.log, self.port = str(base), str(log), free_port()
        with open(self.log, 'w') as handle:
            self.process = subprocess.Popen(
                ['git', 'daemon', '--verbose', '--reuseaddr', '--listen=127.0.0.1', '--port=%d' % self.port,
                 '--base-path=%s' % self.base, '--export-all', self.base], stderr=handle)
        wait_for_port(self.port, self.process)

    def url(self, name):
        return 'git://127.0.0.1:%d/%s' % (self.port, name)

    def reads(self):
        """How many reads (``git-upload-pack``: an ls-remote or a fetch each) the daemon was asked for."""
        with open(self.log) as handle:
            return len(re.findall(r'Request upload-pack for', handle.read()))


@pytest.fixture
def daemon(tmp_path):
    make_lock_repo(tmp_path / 'served' / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\nurl: https://env-1.example.com\n'}})
    counting = CountingGitDaemon(tmp_path / 'served', tmp_path / 'daemon.log')
    yield counting
    stop(counting.process)


def test_the_documented_set_fact_reads_the_server_once_for_every_later_use(daemon, tmp_path):
    playbook = tmp_path / 'read-once.yml'
    playbook.write_text(examples('reading-pools.md')['read-once.yml'])
    completed = run_playbook(playbook, {'lock_repo': daemon.url('locks.git')}, env={'LOCKPOOL_CACHE_DIR': str(tmp_path / 'cache')})
    assert completed.returncode == 0, completed.stdout
    assert '"msg": "eu-west-1 at https://env-1.example.com"' in completed.stdout
    # One ls-remote, and the one fetch of a cold cache.
    assert daemon.reads() == 2


MANY_USES = '''
- hosts: localhost
  gather_facts: false
  vars:
    env: "{{ lookup('lockpool.git.pool_lock', 'aws/env-1', repo=lock_repo, max_age='5m') }}"
  tasks:
    - ansible.builtin.debug:
        msg: "{{ env.region }}"
      loop: [1, 2, 3, 4]
    - ansible.builtin.debug:
        msg: "{{ env.region }}"
'''


def test_with_max_age_a_lookup_in_vars_reads_the_server_once_for_every_use(daemon, tmp_path):
    playbook = tmp_path / 'many-uses.yml'
    playbook.write_text(MANY_USES)
    completed = run_playbook(playbook, {'lock_repo': daemon.url('locks.git')}, env={'LOCKPOOL_CACHE_DIR': str(tmp_path / 'cache')})
    assert completed.returncode == 0, completed.stdout
    assert completed.stdout.count('"msg": "eu-west-1"') == 5
    # One ls-remote, and the one fetch of a cold cache.
    assert daemon.reads() == 2

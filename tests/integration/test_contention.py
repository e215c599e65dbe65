"""Many real processes contending for a pool of 2 locks: never two holders, nothing lost."""

import collections
import json
import os
import subprocess

from support.modules import PYTHON, module_env
from support.repos import commit_count, git, make_lock_repo, pool_state

CONTENDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'support', 'contender.py')
PROCESSES = 8
CYCLES = 20


def run_contenders(url, tmp_path, shared_cache_for, processes_count=PROCESSES, cycles=CYCLES, extra_args=None):
    log = str(tmp_path / 'events.log')
    processes = []
    for holder_id in range(processes_count):
        cache = 'shared' if holder_id < shared_cache_for else 'own-%d' % holder_id
        args = {'repo': url, 'pool': 'aws', 'cache_dir': str(tmp_path / cache), 'timeout': 300, 'retry_delay': '0.2s'}
        args.update(extra_args or {})
        processes.append(subprocess.Popen([PYTHON, CONTENDER, str(holder_id), str(cycles), log, json.dumps(args)],
                                          env=module_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    failures = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            failures.append(output)
    assert failures == []
    with open(log) as handle:
        return [line.split() for line in handle]


def assert_one_holder_at_a_time(events):
    holder_of = {}
    for event, lock, holder_id in events:
        if event == 'enter':
            assert lock not in holder_of, 'lock %s entered by %s while %s held it' % (lock, holder_id, holder_of.get(lock))
            holder_of[lock] = holder_id
        else:
            assert holder_of.pop(lock) == holder_id
    assert holder_of == {}


def test_eight_processes_over_git_daemon_never_share_a_lock(git_daemon, tmp_path):
    repo = make_lock_repo(os.path.join(git_daemon.base, 'contention.git'), {'aws': {'env-1': 'a', 'env-2': 'b'}})
    events = run_contenders(git_daemon.url('contention.git'), tmp_path, shared_cache_for=4)

    assert_one_holder_at_a_time(events)
    enters = collections.Counter(holder_id for event, _lock, holder_id in events if event == 'enter')
    assert enters == {str(holder_id): CYCLES for holder_id in range(PROCESSES)}
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}
    assert commit_count(repo) == 1 + 2 * PROCESSES * CYCLES
    git('fsck', '--strict', cwd=repo)

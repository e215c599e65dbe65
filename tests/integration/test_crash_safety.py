"""SIGKILL pool_lock runs at every phase, over 100 times, over git daemon: no lock lost, none duplicated.

Four lanes run in parallel, two per shared cache, so later runs work on caches that earlier runs were killed
in and push against each other. Lane N alone moves lock env-N and reads the server (with the git CLI) to
choose a run that changes something, so every run reaches the phase it is to be killed in. Phases are hit
with tests/support/paused_pool_lock.py (pool_lock run with an observer that parks it there and says so on stderr), by a kill
at a random moment of the run, and while the run waits for a lock held by someone else.
"""

import collections
import concurrent.futures
import os
import random
import select
import signal
import subprocess
import time

from support.modules import PYTHON, module_command, module_env, run_module, write_module_args
from support.repos import git, make_lock_repo, pool_state

LOCKS = ['env-1', 'env-2', 'env-3', 'env-4']
PAUSED_POOL_LOCK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'support', 'paused_pool_lock.py')
# Per lane: 30 runs, 120 in all. A run killed at a random moment may finish first; so may a paused one that
# finds nothing to change because the push of the run killed before it landed on the server after the kill.
LANE_SCHEDULE = ['before-commit'] * 6 + ['after-commit'] * 6 + ['after-push'] * 4 + ['waiting'] * 4 + ['random'] * 10


def start(args, pause_at=None):
    """pool_lock as Ansible runs it, in its own session; with ``pause_at``, parked at that phase of its transaction."""
    path = write_module_args(args)
    command = module_command('pool_lock', path) if pause_at is None else [PYTHON, PAUSED_POOL_LOCK, pause_at, path]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=module_env(), start_new_session=True)
    process.args_path = path
    return process


def kill(process, group=False):
    """SIGKILL the run (with its git children when ``group``); True if it was still running."""
    if process.poll() is None:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    os.unlink(process.args_path)
    return process.returncode == -signal.SIGKILL


def reached_pause(process, limit=60):
    """True once the run says it is parked at its phase; False when it ended without getting there."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready = select.select([process.stderr], [], [], deadline - time.monotonic())[0]
        line = process.stderr.readline() if ready else ''
        if not line:
            return False
        if 'lockpool: paused at' in line:
            return True
    return False


class Lane(object):
    def __init__(self, repo, url, lock, cache_dir, seed):
        self.repo, self.lock, self.random = repo, lock, random.Random(seed)
        self.args = {'repo': url, 'pool': 'aws', 'name': lock, 'cache_dir': cache_dir, 'holder': 'lane-' + lock,
                     'force': True, 'timeout': 60, 'retry_delay': '0.2s'}

    def claimed(self):
        return self.lock in pool_state(self.repo, 'aws')['claimed']

    def change(self):
        """Args of a run that changes the lock: release it if it is claimed, else claim it."""
        return dict(self.args, state='released' if self.claimed() else 'claimed')

    def kill_at(self, phase):
        """Run once and SIGKILL it at ``phase``; returns the phase hit, or 'finished first'."""
        if phase == 'waiting':
            if not self.claimed():
                run_module('pool_lock', self.args)
            process = start(dict(self.args, holder='waiter'))
            time.sleep(self.random.uniform(0.5, 1.5))
        elif phase == 'random':
            process = start(self.change())
            time.sleep(self.random.uniform(0.05, 0.6))
        else:
            process = start(self.change(), pause_at=phase)
            if not reached_pause(process):
                kill(process)
                return 'finished first'
        return phase if kill(process) else 'finished first'

    def run(self):
        schedule = list(LANE_SCHEDULE)
        self.random.shuffle(schedule)
        return [self.kill_at(phase) for phase in schedule]


def test_runs_killed_at_every_phase_lose_and_duplicate_no_lock(git_daemon, tmp_path):
    repo = make_lock_repo(os.path.join(git_daemon.base, 'crash.git'), {'aws': {lock: lock + '\n' for lock in LOCKS}})
    caches = [str(tmp_path / 'cache-a'), str(tmp_path / 'cache-b')]
    lanes = [Lane(repo, git_daemon.url('crash.git'), lock, caches[index % 2], index) for index, lock in enumerate(LOCKS)]

    with concurrent.futures.ThreadPoolExecutor(len(lanes)) as pool:
        outcomes = collections.Counter(phase for phases in pool.map(Lane.run, lanes) for phase in phases)

    print('kills by phase: %s' % dict(outcomes))
    assert sum(count for phase, count in outcomes.items() if phase != 'finished first') >= 100
    assert all(outcomes[phase] >= 20 for phase in ('before-commit', 'after-commit'))
    state = pool_state(repo, 'aws')
    assert sorted(state['claimed'] + state['unclaimed']) == LOCKS
    git('fsck', '--strict', cwd=repo)
    assert_every_cache_still_works(repo, git_daemon.url('crash.git'), caches)


def assert_every_cache_still_works(repo, url, caches):
    for cache_dir in caches:
        for lock in LOCKS:
            released = run_module('pool_lock', {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws', 'name': lock,
                                                'state': 'released', 'holder': 'checker', 'force': True})
            assert not released.get('failed'), released['msg']
        assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': LOCKS}
        claimed = run_module('pool_lock', {'repo': url, 'cache_dir': cache_dir, 'pool': 'aws', 'holder': 'checker'})
        assert claimed['acquired'], claimed.get('msg')


SLOW_PUSH_HOOK = '#!/bin/sh\ntouch pushing\nsleep 0.5\n'


def wait_for_push(process, marker, limit=60):
    """Wait until the server runs the run's push hook."""
    deadline = time.monotonic() + limit
    while not os.path.exists(marker):
        assert process.poll() is None, 'the run ended without pushing: %s %s' % process.communicate()
        assert time.monotonic() < deadline, 'no push reached the server'
        time.sleep(0.01)
    os.unlink(marker)


def wait_until_served(daemon, limit=60):
    """Wait until the server has finished with every client (a killed client's push may still be landing)."""
    deadline = time.monotonic() + limit
    while daemon.serving():
        assert time.monotonic() < deadline, 'git daemon still serving after %ss' % limit
        time.sleep(0.05)


def test_runs_killed_while_the_server_receives_their_push_lose_and_duplicate_no_lock(git_daemon, tmp_path):
    """Six times the client (with its git push) and six times the server's receive-pack are killed mid-push."""
    repo = make_lock_repo(os.path.join(git_daemon.base, 'push-kill.git'), {'aws': {lock: lock + '\n' for lock in LOCKS}})
    hook = os.path.join(repo, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write(SLOW_PUSH_HOOK)
    os.chmod(hook, 0o755)
    lane = Lane(repo, git_daemon.url('push-kill.git'), 'env-1', str(tmp_path / 'cache'), 0)

    for side in ['client', 'server'] * 6:
        wait_until_served(git_daemon)
        process = start(lane.change())
        wait_for_push(process, os.path.join(repo, 'pushing'))
        if side == 'client':
            assert kill(process, group=True)
            continue
        for pid in git_daemon.serving():
            os.kill(pid, signal.SIGKILL)
        output, errors = process.communicate(timeout=120)
        os.unlink(process.args_path)
        assert 'Traceback' not in errors
        assert process.returncode == 0 or 'cannot push to lock repository' in output
        print('server killed mid-push; the run %s' % ('succeeded' if process.returncode == 0 else output))

    state = pool_state(repo, 'aws')
    assert sorted(state['claimed'] + state['unclaimed']) == LOCKS
    git('fsck', '--strict', cwd=repo)
    os.unlink(hook)
    assert_every_cache_still_works(repo, git_daemon.url('push-kill.git'), [str(tmp_path / 'cache')])

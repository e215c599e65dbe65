"""A lock never outlives its job: plays killed, cancelled and stopped the ways schedulers do it.

Every test runs real ``ansible-playbook`` processes (or the module as a process of its own) against a real bare
repository, stops them with real signals, and reads the repository with the git CLI afterwards. A "late claim"
is a claim made by a play after it was killed: the worst bug after a double holder.
"""

import glob
import json
import os
import shutil
import signal
import threading
import time

import ansible_runner
import pytest

from support.modules import PYTHON, _ansible_env, run_module, start_module
from support.plays import Play, lease_renewals, queue_tickets, wait_until, write_play
from support.repos import git, pool_state

pytestmark = pytest.mark.timeout(240)


def claim_by(repo, cache, holder, name='env-1', **more):
    result = run_module('pool_lock', dict({'repo': repo, 'cache_dir': cache, 'pool': 'aws', 'name': name, 'holder': holder}, **more))
    assert result.get('acquired'), result
    return result


def release_by(repo, cache, holder, name='env-1'):
    result = run_module('pool_lock', {'repo': repo, 'cache_dir': cache, 'pool': 'aws', 'name': name, 'holder': holder,
                                      'state': 'released'})
    assert result['changed'], result


def claims_by(repo, holder_part):
    """The claim commits on the branch whose holder contains ``holder_part``."""
    log = git('log', '--format=%s%x00%b%x01', 'refs/heads/main', cwd=repo)
    return [entry for entry in log.split('\x01') if entry.strip().startswith('claiming:') and holder_part in entry]


def task_play(tmp_path, repo, holder='alice'):
    """A play whose one task claims env-1 (waiting while it is held), holds it 1 s and releases it."""
    lock = {'repo': repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'name': 'env-1', 'holder': holder}
    return write_play(tmp_path / 'task-play.yml', [
        {'name': 'Claim env-1', 'lockpool.git.pool_lock': dict(lock, retry_delay='1s')},
        {'name': 'Hold it', 'ansible.builtin.command': 'sleep 1'},
        {'name': 'Release env-1', 'lockpool.git.pool_lock': dict(lock, state='released')},
    ])


def role_play(tmp_path, repo, hold_seconds, lease='6s', holder='alice'):
    """A play that runs the role: env-1, a caller task that sleeps ``hold_seconds``, the given lease."""
    caller = tmp_path / 'hold.yml'
    caller.write_text('- name: Use the environment\n  ansible.builtin.command: sleep %d\n' % hold_seconds)
    return write_play(tmp_path / 'role-play.yml', [{
        'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'},
        'vars': {'with_lock_repo': repo, 'with_lock_cache_dir': str(tmp_path / 'cache'), 'with_lock_pool': 'aws',
                 'with_lock_name': 'env-1', 'with_lock_holder': holder, 'with_lock_lease': lease,
                 'with_lock_poll_interval': 1, 'with_lock_retry_delay': '1s', 'with_lock_tasks': str(caller)}}])


def no_late_claim(repo, tmp_path, holder='alice', settle=6):
    """Free env-1 and give a killed play every chance to claim it late: it must not."""
    release_by(repo, str(tmp_path / 'bob-cache'), 'bob')
    time.sleep(settle)
    assert pool_state(repo, 'aws')['claimed'] == []
    assert claims_by(repo, holder) == []


# -- killed while it waits ----------------------------------------------------------------

def test_a_play_killed_with_sigkill_while_its_task_waits_leaves_the_queue_and_never_claims(aws_repo, tmp_path):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    play = Play(task_play(tmp_path, aws_repo), tmp_path / 'play.log')
    wait_until(lambda: queue_tickets(aws_repo), 60, what='the waiting claim queued')
    play.kill_group(signal.SIGKILL)
    gone_after = wait_until(lambda: not queue_tickets(aws_repo), 10, what='the killed play left the queue')
    assert gone_after < 10
    no_late_claim(aws_repo, tmp_path)


def test_the_roles_background_claim_gives_up_when_its_play_is_killed(aws_repo, tmp_path):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    play = Play(role_play(tmp_path, aws_repo, hold_seconds=1), tmp_path / 'play.log')
    wait_until(lambda: 'Waiting for a free lock' in play.output(), 90, what='the role waited')
    wait_until(lambda: queue_tickets(aws_repo), 30, what='the background claim queued')
    play.kill_group(signal.SIGKILL)
    wait_until(lambda: not queue_tickets(aws_repo), 10, what='the background claim left the queue')
    no_late_claim(aws_repo, tmp_path)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_a_play_stopped_by_a_signal_to_its_group_while_it_waits_never_claims(aws_repo, tmp_path, signum):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    play = Play(task_play(tmp_path, aws_repo), tmp_path / 'play.log')
    wait_until(lambda: queue_tickets(aws_repo), 60, what='the waiting claim queued')
    play.kill_group(signum)
    play.wait(timeout=60)
    wait_until(lambda: not queue_tickets(aws_repo), 10, what='the stopped play left the queue')
    no_late_claim(aws_repo, tmp_path)


# -- a waiting module stopped by a signal ------------------------------------------------------

@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=['SIGTERM', 'SIGINT', 'SIGHUP'])
def test_a_waiting_module_stopped_by_a_signal_removes_its_ticket_and_temporary_files_at_once(aws_repo, tmp_path, signum):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    temporary = tmp_path / 'tmp'
    temporary.mkdir()
    waiting = start_module('pool_lock', {'repo': aws_repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'name': 'env-1',
                                         'holder': 'alice', 'username': 'alice', 'password': 'secret-pw-4711', 'retry_delay': '1s'},
                           env={'TMPDIR': str(temporary)})
    wait_until(lambda: queue_tickets(aws_repo), 60, what='the waiting claim queued')
    assert glob.glob(str(temporary / 'lockpool-credentials-*'))
    waiting.process.send_signal(signum)
    result = waiting.result(timeout=10)
    assert result['failed'] and result['msg'] == 'gave up: it was stopped by %s' % signal.Signals(signum).name
    assert queue_tickets(aws_repo) == []
    assert os.listdir(str(temporary)) == []
    assert 'secret-pw-4711' not in json.dumps(result)
    no_late_claim(aws_repo, tmp_path, settle=2)


def test_the_credentials_a_sigkilled_module_left_behind_are_removed_by_the_next_run(aws_repo, tmp_path):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    temporary = tmp_path / 'tmp'
    temporary.mkdir()
    args = {'repo': aws_repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'name': 'env-2', 'holder': 'alice',
            'username': 'alice', 'password': 'secret-pw-4711'}
    waiting = start_module('pool_lock', dict(args, name='env-1'), env={'TMPDIR': str(temporary)})
    wait_until(lambda: queue_tickets(aws_repo), 60, what='the waiting claim queued')
    left = glob.glob(str(temporary / 'lockpool-credentials-*'))
    waiting.kill()
    assert left and all(os.path.exists(path) for path in left)
    # fair: false, so that only the credentials are under test here, not the killed waiter's place in the queue
    assert run_module('pool_lock', dict(args, fair=False), env={'TMPDIR': str(temporary)})['acquired']
    assert os.listdir(str(temporary)) == []


# -- killed while it holds ---------------------------------------------------------------------

def test_a_play_that_holds_longer_than_its_lease_keeps_its_lock_while_it_lives(aws_repo, tmp_path):
    play = Play(role_play(tmp_path, aws_repo, hold_seconds=14, lease='6s'), tmp_path / 'play.log')
    wait_until(lambda: pool_state(aws_repo, 'aws')['claimed'] == ['env-1'], 90, what='the role claimed env-1')
    time.sleep(9)  # past the lease its claim recorded
    other = run_module('pool_lock', {'repo': aws_repo, 'cache_dir': str(tmp_path / 'bob-cache'), 'pool': 'aws',
                                     'name': 'env-1', 'holder': 'bob', 'wait': False})
    assert not other['acquired'] and other['waiting_for'] == "lock 'env-1' in pool 'aws' is claimed by alice"
    assert lease_renewals(aws_repo)
    assert play.wait(timeout=120) == 0, play.output()
    assert pool_state(aws_repo, 'aws')['claimed'] == []
    wait_until(lambda: not lease_renewals(aws_repo), 10, what='the renewer deleted its renewal')


def test_a_play_killed_with_sigkill_while_it_holds_gives_its_lock_back_when_the_lease_runs_out(aws_repo, tmp_path):
    play = Play(role_play(tmp_path, aws_repo, hold_seconds=300, lease='6s'), tmp_path / 'play.log')
    wait_until(lambda: 'Use the environment' in play.output(), 90, what='the caller task started')
    play.kill_group(signal.SIGKILL)
    killed_at = time.monotonic()
    taken = claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob', retry_delay='1s', timeout=60)
    assert time.monotonic() - killed_at <= 6 + 5  # the lease, and a renewal interval of slack
    assert taken['lock']['holder'] == 'bob' and taken['lock']['token'] == 2
    assert 'Lock-Claim-Expired: aws/env-1 1@' in git('log', '-1', '--format=%B', 'refs/heads/main', cwd=aws_repo)


# -- cancelled through ansible-runner, as AWX cancels --------------------------------------------

class RunnerJob(object):
    """A play run by ansible-runner in a thread, as AWX runs a job; ``cancel()`` makes its cancel callback say so."""

    def __init__(self, tmp_path, playbook):
        private = tmp_path / 'runner'
        (private / 'project').mkdir(parents=True)
        shutil.copy(str(playbook), str(private / 'project' / 'play.yml'))
        env = _ansible_env({'PATH': os.path.dirname(PYTHON) + os.pathsep + os.environ.get('PATH', '')})
        self.cancelled = threading.Event()
        self.thread, self.runner = ansible_runner.run_async(
            private_data_dir=str(private), playbook='play.yml', inventory='localhost ansible_connection=local ansible_python_interpreter=%s'
            % PYTHON, envvars=env, cancel_callback=self.cancelled.is_set, quiet=True)

    def output(self):
        return self.runner.stdout.read() if self.runner.stdout else ''

    def cancel(self):
        self.cancelled.set()
        self.thread.join(timeout=60)
        return self.runner.status


def test_a_job_cancelled_through_ansible_runner_while_it_waits_never_claims(aws_repo, tmp_path):
    claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob')
    job = RunnerJob(tmp_path, role_play(tmp_path, aws_repo, hold_seconds=1))
    wait_until(lambda: queue_tickets(aws_repo), 90, what='the job waited in the queue')
    assert job.cancel() == 'canceled'
    wait_until(lambda: not queue_tickets(aws_repo), 10, what='the cancelled job left the queue')
    no_late_claim(aws_repo, tmp_path)


def test_a_job_cancelled_through_ansible_runner_while_it_holds_gives_its_lock_back_within_the_lease(aws_repo, tmp_path):
    job = RunnerJob(tmp_path, role_play(tmp_path, aws_repo, hold_seconds=300, lease='6s'))
    wait_until(lambda: lease_renewals(aws_repo) or pool_state(aws_repo, 'aws')['claimed'] == ['env-1'], 90, what='the job claimed env-1')
    time.sleep(2)
    assert job.cancel() == 'canceled'
    cancelled_at = time.monotonic()
    taken = claim_by(aws_repo, str(tmp_path / 'bob-cache'), 'bob', retry_delay='1s', timeout=60)
    assert time.monotonic() - cancelled_at <= 6 + 5
    assert taken['lock']['token'] == 2

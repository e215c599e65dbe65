"""Kill load: plays of the role lockpool.git.with_lock killed the ways schedulers kill them; what lease renewals cost.

Every kill is of a real ``ansible-playbook`` (support.plays.Play, a process group of its own) against a repository
served by ``git daemon``; every figure comes from the repository and the processes afterwards, never from the
engine's own word. The kills are spread evenly over three phases:

- waiting: another holder holds env-1, the play's background claim waits in the fair queue; killed after 0.5-3 s.
  Measured: kill -> its queue ticket gone. Then the other holder releases, and after a settle time the killed play
  must not have claimed (a late claim: any claim commit by its holder after the kill).
- holding: the play holds env-1 (its caller task sleeps 300 s) with a short lease renewed in the background; killed
  after 0.5-4 s of holding. Another claimer, started at the kill (waiting, retry_delay 1s), must have it within the
  lease, one renewal interval and 2 s of slack after the kill.
- releasing: killed 0-0.3 s after the output shows the role's release task; the lock must be released already or
  taken over by the claimer started at the kill within the same bound.

Signals are sent as schedulers send them: SIGKILL of the process group (ansible-runner, AWX) or SIGTERM / SIGINT of
the group and SIGKILL 2 s later (ansible-runner's cancel, ``timeout -s``). WORKERS rounds run in parallel, each worker
with its own repository. Then the renewal cost: claimers loop claim -> release alone, then again while holders keep
their leases renewed (``keep_renewed``), and the push races the claimers lose are counted.

``make kill-load`` runs it at full size and writes the figures to docs/reliability.md;
``tests/integration/test_kill_load.py`` runs it small:

    python -m support.kill_load KILLS WORKERS [--report docs/reliability.md] [--renewal-seconds 30] [--renewers 16]
                                [--renewal-lease 6] [--settle 4] [--seed N]
"""

import argparse
import collections
import json
import os
import pathlib
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

from ansible_collections.lockpool.git.plugins.module_utils._processes import ProcessIdentity
from support.modules import COLLECTIONS, HERE, PYTHON, module_env, run_module, start_module
from support.plays import Play, queue_tickets, wait_until, write_play
from support.repos import git, head, make_lock_repo, pool_state
from support.servers import temporary_git_daemon

POOL = 'aws'
LOCK = 'env-1'
LEASE = 6  # seconds: the victims' with_lock_lease
RENEW_EVERY = LEASE / 3.0  # keep_renewed renews every third of the lease
SLACK = 2
BOUND = LEASE + RENEW_EVERY + SLACK  # kill -> lock taken by the next claimer, at most
GRACE = 2  # seconds between SIGTERM / SIGINT and the SIGKILL that follows
SETTLE = 4  # seconds a killed play is given to claim late, once the lock is free (--settle)
PHASES = ('waiting', 'holding', 'releasing')
SIGNALS = ('SIGKILL', 'SIGTERM', 'SIGINT')
# The k-th kill of a phase gets _SIGNAL_CYCLE[(k + offset) % 6]: 4 in 6 SIGKILL, 1 SIGTERM, 1 SIGINT; the offsets make
# the first kill of the three phases SIGKILL, SIGTERM and SIGINT, so a run of 3 kills sends each signal once.
_SIGNAL_CYCLE = ('SIGKILL', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGKILL', 'SIGKILL')
_SIGNAL_OFFSET = {'waiting': 0, 'holding': 1, 'releasing': 3}
RELEASE_TASK = 'Release lock %s in pool %s' % (LOCK, POOL)  # the banner of roles/with_lock/tasks/release.yml's task
TAG = 'LOCKPOOL_KILL_LOAD_PLAY'  # in the environment of every process a victim play starts, to find those left running
# seconds (--renewal-lease): renewals every 2 s per holder, 8/s nominally for 16 holders. At 3 s (every 1 s) the
# renewers of 16 holders on 2 cores fall behind (a renewal is a fetch, an ls-remote and a push) and their leases run out.
RENEWAL_LEASE = 6
DEFAULT_LEASE = 600  # the role's with_lock_lease (10m): a renewal every 200 s per holder
REPORT_BEGIN = '<!-- kill-load figures: written by make kill-load -->'
REPORT_END = '<!-- end of kill-load figures -->'
TESTS = os.path.dirname(HERE)


def signal_plan(kills, seed):
    """[(phase, signal name)] for ``kills`` kills spread evenly over the phases, in a shuffled order."""
    plan, seen = [], collections.Counter()
    for number in range(kills):
        phase = PHASES[number % len(PHASES)]
        plan.append((phase, _SIGNAL_CYCLE[(seen[phase] + _SIGNAL_OFFSET[phase]) % len(_SIGNAL_CYCLE)]))
        seen[phase] += 1
    random.Random(seed).shuffle(plan)
    return plan


# -- what a round reads of the repository and of the machine ----------------------------------------------------------

def _commits(repo, since):
    """[(sha, subject, {trailer key: [values]}, message)] of the branch after ``since``, oldest first."""
    log = git('log', '--reverse', '--format=%H%x00%B%x01', '%s..refs/heads/main' % since, cwd=repo)
    found = []
    for entry in log.split('\x01'):
        if not entry.strip():
            continue
        sha, _nul, message = entry.strip().partition('\x00')
        trailers = collections.defaultdict(list)
        for line in message.splitlines()[1:]:
            key, sep, value = line.partition(': ')
            if sep and re.match(r'^[A-Za-z][A-Za-z0-9-]*$', key):
                trailers[key].append(value.strip())
        found.append((sha, message.splitlines()[0] if message else '', trailers, message))
    return found


def claims_by(repo, since, holder):
    """Claim commits by exactly ``holder`` on the branch after ``since``."""
    return [sha for sha, subject, trailers, _message in _commits(repo, since)
            if subject.startswith('claiming:') and trailers.get('Lock-Holder') == [holder]]


def token_of_claim(repo, holder):
    """The fencing token of ``holder``'s newest claim of env-1, or None."""
    for sha, subject, trailers, _message in reversed(_commits(repo, git('rev-list', '--max-parents=0', 'refs/heads/main', cwd=repo).split()[0])):
        if subject.startswith('claiming:') and trailers.get('Lock-Holder') == [holder]:
            for value in trailers.get('Lock-Token', []):
                lock, _sep, token = value.partition(' ')
                if lock == '%s/%s' % (POOL, LOCK):
                    return int(token)
    return None


def tagged_processes(tag):
    """{pid: command line} of the processes whose environment carries TAG=tag (what a victim play started)."""
    wanted = ('%s=%s' % (TAG, tag)).encode()
    found = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/environ' % entry, 'rb') as handle:
                if wanted not in handle.read().split(b'\0'):
                    continue
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                found[int(entry)] = handle.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except OSError:
            continue
    return found


def end_processes(pids):
    """SIGKILL the processes ``pids`` (ones a victim play started and left behind: its caller's sleep, its worker)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- one kill -----------------------------------------------------------------------------------------------------------

class Kill(object):
    """Signal a play's process group as a scheduler does: SIGKILL, or SIGTERM / SIGINT and SIGKILL after GRACE seconds."""

    def __init__(self, play, signame):
        self.play = play
        self.signame = signame
        self.escalated = False  # the controller still ran GRACE seconds after SIGTERM / SIGINT
        self.at = time.monotonic()
        if signame == 'SIGKILL':
            play.kill_group(signal.SIGKILL)
            self._thread = None
        else:
            os.killpg(play.process.pid, getattr(signal, signame))
            self._thread = threading.Thread(target=self._escalate, daemon=True)
            self._thread.start()

    def _escalate(self):
        try:
            self.play.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            self.escalated = True
        try:
            os.killpg(self.play.process.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        self.play.wait(timeout=30)

    def join(self):
        if self._thread is not None:
            self._thread.join(GRACE + 40)


class Waiter(object):
    """A pool_lock claim of env-1 started now (it waits while env-1 is held); ``join()`` gives its result and when it came."""

    def __init__(self, url, cache, holder):
        self.running = start_module('pool_lock', {'repo': url, 'cache_dir': cache, 'pool': POOL, 'name': LOCK, 'holder': holder,
                                                  'retry_delay': '1s', 'timeout': 90})
        self.result, self.at = None, None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self):
        try:
            self.result = self.running.result(timeout=120)
        except Exception as exc:  # pylint: disable=broad-except
            self.result = {'failed': True, 'msg': 'the claimer did not answer: %s' % exc}
            if self.running.process.poll() is None:
                self.running.kill()
        self.at = time.monotonic()

    def join(self):
        self._thread.join(150)
        return self.result


class Worker(object):
    """One worker's repository (on the server, served by git daemon), caches and rounds."""

    def __init__(self, daemon, workdir, number, settle=SETTLE):
        self.number = number
        self.settle = settle
        self.name = 'worker-%d' % number
        self.repo = make_lock_repo(os.path.join(daemon.base, self.name + '.git'), {POOL: {LOCK: 'region: eu-west-1\n'}})
        self.url = daemon.url(self.name + '.git')
        self.workdir = os.path.join(workdir, self.name)
        os.makedirs(self.workdir)
        self.victim_cache = os.path.join(self.workdir, 'victim-cache')  # shared by its victims, as on one runner
        self.other_cache = os.path.join(self.workdir, 'other-cache')  # another machine's
        self.rounds = []

    def lock_args(self, holder, **more):
        return dict({'repo': self.url, 'cache_dir': self.other_cache, 'pool': POOL, 'name': LOCK, 'holder': holder}, **more)

    def claim(self, holder):
        result = run_module('pool_lock', self.lock_args(holder, wait=False))
        if not result.get('acquired'):
            raise AssertionError('%s could not claim %s: %s' % (holder, LOCK, result.get('msg') or result.get('waiting_for')))

    def release(self, holder):
        result = run_module('pool_lock', self.lock_args(holder, state='released'))
        if result.get('failed'):
            raise AssertionError('%s could not release %s: %s' % (holder, LOCK, result['msg']))

    def victim_play(self, directory, holder, caller_command):
        caller = os.path.join(directory, 'caller.yml')
        with open(caller, 'w') as handle:
            handle.write('- name: Use the environment\n  ansible.builtin.command: %s\n' % caller_command)
        return write_play(pathlib.Path(directory) / 'play.yml', [{
            'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'},
            'vars': {'with_lock_repo': self.url, 'with_lock_cache_dir': self.victim_cache, 'with_lock_pool': POOL,
                     'with_lock_name': LOCK, 'with_lock_holder': holder, 'with_lock_lease': '%ds' % LEASE,
                     'with_lock_poll_interval': 1, 'with_lock_retry_delay': '1s', 'with_lock_timeout': 120,
                     'with_lock_tasks': caller}}])

    def run(self, plan, rng):
        for number, (phase, signame) in enumerate(plan, 1):
            self.rounds.append(self.run_round(number, phase, signame, rng))

    def run_round(self, number, phase, signame, rng):
        ident = '%s-round-%02d' % (self.name, number)
        directory = os.path.join(self.workdir, ident)
        os.makedirs(directory)
        started = time.monotonic()
        found = {'worker': self.number, 'round': number, 'phase': phase, 'signal': signame, 'killed': False, 'escalated': False,
                 'late_claims': 0, 'back': None, 'ticket_freed': None, 'taken_after': None, 'outcome': None,
                 'lock_tasks_left': 0, 'errors': []}
        victim = 'kill-load %s victim' % ident
        other = 'kill-load %s other' % ident
        self.play, self.head_at_kill = None, None
        try:
            wait_until(lambda: not pool_state(self.repo, POOL)['claimed'] and not queue_tickets(self.repo), 40,
                       what='%s free and the queue empty before %s' % (LOCK, ident))
            getattr(self, '_' + phase)(found, directory, victim, other, signame, rng)
        except Exception as exc:  # pylint: disable=broad-except
            found['errors'].append('%s: %s' % (type(exc).__name__, exc))
        failed = bool(found['errors'])
        if failed:  # free the lock whoever holds it, so that the killed play has its chance to claim late all the same
            if self.play is not None and self.play.process.poll() is None:
                self.play.kill_group(signal.SIGKILL)
            run_module('pool_lock', self.lock_args('kill-load cleanup', state='released', force=True))
        if self.head_at_kill is not None:
            time.sleep(self.settle)  # the lock is free again: time for a late claim
            found['late_claims'] = len(claims_by(self.repo, self.head_at_kill, victim))
        if failed:
            for ticket in queue_tickets(self.repo):
                git('--git-dir', self.repo, 'update-ref', '-d', ticket)
        else:
            if pool_state(self.repo, POOL)['claimed']:
                found['errors'].append('%s still claimed %gs after the round' % (LOCK, self.settle))
            if queue_tickets(self.repo):
                found['errors'].append('queue tickets left: %s' % queue_tickets(self.repo))
        left = tagged_processes(ident)
        # The module, not async_wrapper.py: its watchdog looks at its job every 5 s, so it may outlive the job by that much.
        lock_tasks = [command for command in left.values() if 'AnsiballZ_pool_lock' in command and 'async_wrapper' not in command]
        found['lock_tasks_left'] = len(lock_tasks)
        if lock_tasks:
            found['errors'].append('lock tasks of the killed play still running %gs after the round: %s' % (self.settle, lock_tasks))
        end_processes(left)
        if found['errors'] and self.play is not None:
            found['output'] = self.play.output()[-3000:]
        found['seconds'] = time.monotonic() - started
        return found

    def _start(self, directory, victim, caller_command):
        ident = os.path.basename(directory)
        self.play = Play(self.victim_play(directory, victim, caller_command), os.path.join(directory, 'play.log'), env={TAG: ident})
        return self.play

    def _kill(self, found, play, signame):
        if play.process.poll() is not None:
            raise AssertionError('the play ended (rc %s) before it was killed' % play.process.returncode)
        self.head_at_kill = head(self.repo)
        found['killed'] = True
        return Kill(play, signame)

    def _waiting(self, found, directory, victim, other, signame, rng):
        self.claim(other)
        play = self._start(directory, victim, 'sleep 300')
        wait_until(lambda: queue_tickets(self.repo) or play.process.poll() is not None, 120, what='the play queued for %s' % LOCK)
        found['kill_delay'] = rng.uniform(0.5, 3)
        time.sleep(found['kill_delay'])
        kill = self._kill(found, play, signame)
        wait_until(lambda: not queue_tickets(self.repo), 30, every=0.05, what='the killed play left the queue')
        found['ticket_freed'] = time.monotonic() - kill.at
        kill.join()
        found['escalated'] = kill.escalated
        self.release(other)

    def _holding(self, found, directory, victim, other, signame, rng, releasing=False):
        play = self._start(directory, victim, 'sleep 1' if releasing else 'sleep 300')
        wait_until(lambda: pool_state(self.repo, POOL)['claimed'] == [LOCK] or play.process.poll() is not None, 120,
                   what='the play claimed %s' % LOCK)
        token = token_of_claim(self.repo, victim)
        if token is None:
            raise AssertionError('no claim of %s by the play on the branch' % LOCK)
        if releasing:
            wait_until(lambda: RELEASE_TASK in play.output() or play.process.poll() is not None, 60, every=0.02,
                       what='the play started its release task')
            found['kill_delay'] = rng.uniform(0, 0.3)
        else:
            found['kill_delay'] = rng.uniform(0.5, 4)
        time.sleep(found['kill_delay'])
        kill = self._kill(found, play, signame)
        waiter = Waiter(self.url, self.other_cache, other)  # the next claimer comes now, and waits if it must
        result = waiter.join()
        kill.join()
        found['escalated'] = kill.escalated
        if not result or not result.get('acquired'):
            found['back'] = False
            raise AssertionError('the next claimer did not get %s: %s' % (LOCK, (result or {}).get('msg')))
        found['taken_after'] = waiter.at - kill.at
        message = git('show', '-s', '--format=%B', result['commit'], cwd=self.repo)
        took_over = 'Lock-Claim-Expired: %s/%s %d@' % (POOL, LOCK, token) in message
        found['outcome'] = 'lease ran out' if took_over else 'released by the play'
        found['back'] = found['taken_after'] <= BOUND and result['lock']['token'] > token
        self.release(other)

    def _releasing(self, found, directory, victim, other, signame, rng):
        self._holding(found, directory, victim, other, signame, rng, releasing=True)


def run_kills(daemon, workdir, kills, workers, seed, settle=SETTLE):
    plan = signal_plan(kills, seed)
    crew = [Worker(daemon, workdir, number, settle) for number in range(1, workers + 1)]
    threads = [threading.Thread(target=worker.run, args=(plan[index::workers], random.Random(seed * 1000 + index)))
               for index, worker in enumerate(crew)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [found for worker in crew for found in worker.rounds]


# -- renewal cost ---------------------------------------------------------------------------------------------------------

_PUSH_LOG_HOOK = '''#!/bin/sh
# Every ref a push changed, with the time it landed: <epoch seconds> <old> <new> <ref>.
now=$(date +%%s.%%N)
while read old new ref; do echo "$now $old $new $ref"; done >> '%s'
'''


def claim_loop(args, seconds, out):
    """One claimer: claim -> release ``args['name']`` for ``seconds``; writes the lost races of each to ``out``."""
    from support.contender import run_pool_lock  # pylint: disable=import-outside-toplevel
    end, claims, releases = time.monotonic() + seconds, [], []
    while time.monotonic() < end:
        claims.append(run_pool_lock(args)['attempts'])
        releases.append(run_pool_lock(dict(args, state='released'))['attempts'])
    with open(out, 'w') as handle:
        json.dump({'claims': claims, 'releases': releases}, handle)


def run_claimers(url, workdir, names, seconds):
    """The claimers, one per lock of ``names``, each in a process of its own with its own cache; their lost races."""
    env = module_env({'PYTHONPATH': os.pathsep.join([COLLECTIONS, TESTS])})
    started = []
    for index, name in enumerate(names):
        args = {'repo': url, 'pool': POOL, 'name': name, 'holder': 'claimer-%d' % index, 'retry_delay': '0.2s', 'timeout': 120,
                'cache_dir': os.path.join(workdir, 'claimer-%d' % index)}
        out = os.path.join(workdir, 'claimer-%d.json' % index)
        command = [PYTHON, '-m', 'support.kill_load', '--claim-loop', json.dumps(args), str(seconds), out]
        started.append((subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), out))
    claims, releases, failures = [], [], []
    for process, out in started:
        output = process.communicate(timeout=seconds + 300)[0]
        if process.returncode != 0:
            failures.append(output[-2000:])
            continue
        with open(out) as handle:
            found = json.load(handle)
        claims += found['claims']
        releases += found['releases']
    return {'claims': len(claims), 'claim_races': sum(claims), 'release_races': sum(releases), 'failures': failures}


def pushed(push_log, since, until):
    """(lease renewal refs created, branch updates) the server received between ``since`` and ``until`` (epoch s)."""
    renewals = branch = 0
    if os.path.exists(push_log):
        with open(push_log) as handle:
            for line in handle:
                stamp, old, _new, ref = line.split()
                if not since <= float(stamp) <= until:
                    continue
                renewals += ref.startswith('refs/lockpool/leases/') and set(old) == {'0'}
                branch += ref == 'refs/heads/main'
    return renewals, branch


def run_renewal_cost(daemon, workdir, seconds, renewers, claimers=4, lease=RENEWAL_LEASE):
    """Claimers alone, then the same claimers while ``renewers`` holders keep their leases renewed; the figures."""
    held = ['held-%02d' % number for number in range(1, renewers + 1)]
    cycled = ['cycled-%d' % number for number in range(1, claimers + 1)]
    repo = make_lock_repo(os.path.join(daemon.base, 'renewals.git'), {POOL: {name: name + '\n' for name in held + cycled}})
    url = daemon.url('renewals.git')
    push_log = os.path.join(workdir, 'renewals-pushes.log')
    hook = os.path.join(repo, 'hooks', 'post-receive')
    with open(hook, 'w') as handle:
        handle.write(_PUSH_LOG_HOOK % push_log)
    os.chmod(hook, 0o755)
    figures = {'seconds': seconds, 'renewers': renewers, 'claimers': claimers, 'lease': lease, 'errors': []}

    since = time.time()
    base_workdir = os.path.join(workdir, 'alone')
    os.makedirs(base_workdir)
    figures['alone'] = run_claimers(url, base_workdir, cycled, seconds)
    figures['alone']['renewals'], figures['alone']['branch_updates'] = pushed(push_log, since, time.time())
    figures['alone']['duration'] = time.time() - since

    running = []
    controller = ProcessIdentity.of(os.getpid()).describe()  # the renewers renew while this process lives
    try:
        for index, name in enumerate(held):  # each holder claims with the short lease, then keeps it renewed at once
            args = {'repo': url, 'cache_dir': os.path.join(workdir, 'renewer-%d' % index), 'pool': POOL, 'name': name,
                    'holder': 'renewer-%d' % index, 'lease': '%gs' % lease}
            claimed = run_module('pool_lock', args)
            if not claimed.get('acquired'):
                raise AssertionError('renewer-%d could not claim %s: %s' % (index, name, claimed.get('msg')))
            running.append(start_module('pool_lock', dict(args, token=claimed['lock']['token'], keep_renewed=True,
                                                          controller_process=controller)))
        time.sleep(2 * lease / 3.0)  # every renewer made its first renewal and waits for its next
        ended_early = [index for index, renewer in enumerate(running) if renewer.process.poll() is not None]
        start_head, since = head(repo), time.time()
        loaded_workdir = os.path.join(workdir, 'with-renewers')
        os.makedirs(loaded_workdir)
        figures['with_renewers'] = run_claimers(url, loaded_workdir, cycled, seconds)
        until = time.time()
        figures['with_renewers']['renewals'], figures['with_renewers']['branch_updates'] = pushed(push_log, since, until)
        figures['with_renewers']['duration'] = until - since
        ended_early += [index for index, renewer in enumerate(running) if renewer.process.poll() is not None and index not in ended_early]
        end_head = head(repo)
    finally:
        results = []
        for renewer in running:
            if renewer.process.poll() is None:
                renewer.process.send_signal(signal.SIGTERM)
            try:
                results.append(renewer.result(timeout=30))
            except subprocess.TimeoutExpired:
                renewer.kill()
                results.append({'failed': True, 'msg': 'did not stop on SIGTERM'})
    figures['renewals_reported'] = sum(result.get('renewals', 0) for result in results)
    figures['renewers_ended_early'] = len(ended_early)  # their lease ran out while they ran: they fell behind
    figures['ended_early'] = ['renewer-%d: %s' % (index, results[index].get('ended') or results[index].get('msg')) for index in ended_early]
    figures['renewed_by_commit'] = sum(1 for result in results if any('renewed by a commit' in str(warning) for warning in result.get('warnings', [])))
    figures['errors'] += ['renewer-%d failed: %s' % (index, result.get('msg')) for index, result in enumerate(results)
                          if result.get('failed') and index not in ended_early]
    renewer_holders = set('renewer-%d' % index for index in range(renewers))
    commits = _commits(repo, start_head) if start_head != end_head else []
    figures['renewal_commits'] = sum(1 for _sha, subject, trailers, _message in commits
                                     if subject.startswith('renewing:') or set(trailers.get('Lock-Holder', [])) & renewer_holders)
    figures['other_commits'] = sum(1 for _sha, subject, trailers, _message in commits
                                   if not (subject.split(':')[0] in ('claiming', 'unclaiming')
                                           and all(holder.startswith('claimer-') for holder in trailers.get('Lock-Holder', ['?']))))
    figures['branch_commits'] = len(commits)
    figures['unexpected_commits'] = ['%s %s (%s)' % (sha[:10], subject, ', '.join(trailers.get('Lock-Holder', [])))
                                     for sha, subject, trailers, _message in commits
                                     if subject.split(':')[0] not in ('claiming', 'unclaiming')
                                     or not all(holder.startswith('claimer-') for holder in trailers.get('Lock-Holder', ['?']))]
    if figures['unexpected_commits']:
        figures['errors'].append('branch commits that are not claims or releases of the claimers: %s' % figures['unexpected_commits'])
    for name in held:
        run_module('pool_lock', {'repo': url, 'cache_dir': os.path.join(workdir, 'cleanup'), 'pool': POOL, 'name': name,
                                 'holder': 'kill-load cleanup', 'state': 'released', 'force': True})
    for key in ('alone', 'with_renewers'):
        figures['errors'] += ['claimer failed (%s): %s' % (key, failure) for failure in figures.get(key, {}).get('failures', [])]
    return figures


# -- figures and the report -----------------------------------------------------------------------------------------------

def _seconds(values):
    if not values:
        return '-'
    return 'median %.1f s, max %.1f s' % (statistics.median(values), max(values))


def summarize(rounds):
    killed = [found for found in rounds if found['killed']]
    taken = [found for found in killed if found['phase'] != 'waiting']
    return {
        'rounds': len(rounds),
        'kills': len(killed),
        'by_phase': dict((phase, sum(1 for found in killed if found['phase'] == phase)) for phase in PHASES),
        'by_signal': dict((signame, sum(1 for found in killed if found['signal'] == signame)) for signame in SIGNALS),
        'by_phase_and_signal': dict(('%s %s' % (phase, signame), sum(1 for found in killed if (found['phase'], found['signal']) == (phase, signame)))
                                    for phase in PHASES for signame in SIGNALS),
        'escalated': sum(1 for found in killed if found['escalated']),
        'late_claims': sum(found['late_claims'] for found in rounds),
        'lock_checks': len(taken),
        'back': sum(1 for found in taken if found['back']),
        'ticket_freed': [found['ticket_freed'] for found in killed if found['ticket_freed'] is not None],
        'taken_holding': [found['taken_after'] for found in taken if found['phase'] == 'holding' and found['taken_after'] is not None],
        'taken_releasing': [found['taken_after'] for found in taken if found['phase'] == 'releasing' and found['taken_after'] is not None],
        'releasing_outcomes': dict(collections.Counter(found['outcome'] for found in taken if found['phase'] == 'releasing' and found['outcome'])),
        'holding_outcomes': dict(collections.Counter(found['outcome'] for found in taken if found['phase'] == 'holding' and found['outcome'])),
        'late_back': ['%.1f s (%s, %s)' % (found['taken_after'], found['phase'], found['signal']) for found in taken
                      if found['back'] is False and found['taken_after'] is not None],
        'lock_tasks_left': sum(found['lock_tasks_left'] for found in rounds),
        'errors': sum(len(found['errors']) for found in rounds),
    }


def _per_claim(figures):
    return figures['claim_races'] / float(figures['claims']) if figures['claims'] else float('nan')


def render(summary, cost, workers, command, duration, seed, settle=SETTLE):
    by_signal = summary['by_phase_and_signal']
    rows = ['| phase | killed when | kills | SIGKILL | SIGTERM, SIGKILL 2 s later | SIGINT, SIGKILL 2 s later |', '|---|---|---|---|---|---|']
    when = {'waiting': 'its background claim waited in the queue 0.5-3 s (another holder had the lock)',
            'holding': 'it had held the lock 0.5-4 s (caller task `sleep 300`)',
            'releasing': "0-0.3 s after the role's release task started"}
    for phase in PHASES:
        rows.append('| %s | %s | %d | %s |' % (phase, when[phase], summary['by_phase'][phase],
                                               ' | '.join(str(by_signal['%s %s' % (phase, signame)]) for signame in SIGNALS)))
    rows.append('| **total** | | **%d** | %s |' % (summary['kills'], ' | '.join('**%d**' % summary['by_signal'][signame] for signame in SIGNALS)))
    graceful = summary['by_signal']['SIGTERM'] + summary['by_signal']['SIGINT']
    outcomes = summary['releasing_outcomes']
    never = summary['lock_checks'] - summary['back'] - len(summary['late_back'])
    late_back = ', '.join(summary['late_back'] + (['%d not at all' % never] if never else [])) or 'none'
    figures = [
        ('kills (rounds run)', '%d (%d), %d worker%s in parallel, each with its own repository'
         % (summary['kills'], summary['rounds'], workers, '' if workers == 1 else 's')),
        ('late claims (a claim commit by a killed play\'s holder after its kill)', '**%d**' % summary['late_claims']),
        ('locks back within the lease (holding and releasing kills)', '**%d / %d**' % (summary['back'], summary['lock_checks'])),
        ('kill -> queue place freed (ticket ref deleted), waiting kills', _seconds(summary['ticket_freed'])),
        ('kill -> lock taken by the next claimer, holding kills', '%s (lease %d s; bound %g s = lease + renewal interval %g s + %d s)'
         % (_seconds(summary['taken_holding']), LEASE, BOUND, RENEW_EVERY, SLACK)),
        ('kill -> lock taken by the next claimer, releasing kills', '%s; released by the play before it died: %d, taken over when the lease ran out: %d'
         % (_seconds(summary['taken_releasing']), outcomes.get('released by the play', 0), outcomes.get('lease ran out', 0))),
        ('kills whose lock the next claimer got later than the bound, or not at all', late_back),
        ('SIGTERM / SIGINT kills whose `ansible-playbook` still ran 2 s later (SIGKILL needed)', '%d of %d' % (summary['escalated'], graceful)),
        ('lock tasks (`pool_lock` module processes) of killed plays still running %g s after the round' % settle, '%d' % summary['lock_tasks_left']),
        ('errors', '%d' % summary['errors']),
    ]
    lines = [REPORT_BEGIN, '## Plays killed the way schedulers kill them', '',
             '`make kill-load` (`tests/support/kill_load.py`) runs real `ansible-playbook` plays of the role `lockpool.git.with_lock`',
             '(lease %d s, renewed every %g s) against repositories served by `git daemon`, and kills each one the way schedulers do:' % (LEASE, RENEW_EVERY),
             '`SIGKILL` of its process group (ansible-runner, AWX), or `SIGTERM` / `SIGINT` of the group and `SIGKILL` 2 s later',
             "(ansible-runner's cancel, `timeout -s`). Every victim has a holder of its own; a late claim is any claim commit by",
             'that holder after the kill, looked for %g s after the lock was free again. After a holding or releasing kill, a' % settle,
             'claimer started at the kill (it waits, `retry_delay` 1 s) must have the lock within the bound. Figures are read from',
             'the repository and `/proc`, not from the engine. `make test` runs the same code at 3 kills (`tests/integration/test_kill_load.py`).',
             '', '\n'.join(rows), '', '| figure | value |', '|---|---|'] + ['| %s | %s |' % row for row in figures]
    if cost is not None:
        alone, loaded = cost['alone'], cost.get('with_renewers')
        lines += ['', '### What lease renewals cost other claimers', '',
                  '%d claimers, each with its own cache, loop claim -> release of a lock of their own (%d locks of the same pool) for %d s over'
                  % (cost['claimers'], cost['claimers'], cost['seconds']),
                  '`git daemon`: alone, then while %d holders keep their locks of that pool renewed (`keep_renewed`, lease %g s: a renewal'
                  % (cost['renewers'], cost['lease']),
                  'every %.3g s per holder, nominally %.3g per second in all; with the default `with_lock_lease` of 10m it is one per %d s per holder, so'
                  % (cost['lease'] / 3.0, cost['renewers'] * 3.0 / cost['lease'], DEFAULT_LEASE // 3),
                  'this is %.3g times the default rate). A push race is a claim whose push lost to another push to the branch (`attempts` in its'
                  % (float(DEFAULT_LEASE) / cost['lease']),
                  'result); renewals and branch updates are counted by a `post-receive` hook on the server. Claimers, holders and the',
                  'server share the machine\'s %d cores, so the renewers\' CPU also slows every claim.' % os.cpu_count(), '',
                  '| | claimers alone | with %d renewing holders |' % cost['renewers'], '|---|---|---|']
        if loaded:
            def rate(figures):
                return figures['claims'] / figures['duration'] if figures['duration'] else 0.0
            lines += [
                '| claims made | %d (%.1f/s) | %d (%.1f/s) |' % (alone['claims'], rate(alone), loaded['claims'], rate(loaded)),
                '| push races lost per claim | %.3f (%d) | %.3f (%d) |' % (_per_claim(alone), alone['claim_races'], _per_claim(loaded), loaded['claim_races']),
                '| push races lost by releases | %d | %d |' % (alone['release_races'], loaded['release_races']),
                '| lease renewals pushed (refs under `refs/lockpool/leases/`) | %d | %d (%.1f/s) |'
                % (alone['renewals'], loaded['renewals'], loaded['renewals'] / loaded['duration'] if loaded['duration'] else 0),
                '| branch commits made by renewals | 0 | **%d** (of %d branch commits; others not claims or releases of the claimers: %d) |'
                % (cost['renewal_commits'], cost['branch_commits'], cost['other_commits']),
            ]
            if alone['claim_races'] and loaded['claims']:
                ratio = 'races per claim with renewals / alone: **%.2f**' % (_per_claim(loaded) / _per_claim(alone))
            else:
                ratio = 'races per claim with renewals / alone: n/a (the claimers alone lost no race)'
            lines += [
                '| holders whose lease ran out while their renewer ran (it fell behind) | - | %d of %d |' % (cost['renewers_ended_early'], cost['renewers']),
                '| renewers that went on renewing by branch commits (warning: the repository refused the renewal refs) | - | %d |'
                % cost['renewed_by_commit'],
            ]
            lines += ['', '%s.' % ratio]
        else:
            lines += ['| (not measured: %s) | | |' % '; '.join(cost['errors'])]
    lines += ['', 'Made by `%s` (seed %d) in %.0f s on %s, %d cores, %s.'
              % (command, seed, duration, time.strftime('%Y-%m-%d'), os.cpu_count(), git('--version').strip()), REPORT_END]
    return '\n'.join(lines)


def write_report(path, section):
    """Replace the kill-load section in ``path`` (docs/reliability.md), or add it at the end; the rest is kept."""
    text = ''
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
    pattern = re.compile(re.escape(REPORT_BEGIN) + '.*?' + re.escape(REPORT_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: section, text)
    else:
        text = text.rstrip('\n') + ('\n\n' if text.strip() else '') + section + '\n'
    with open(path, 'w') as handle:
        handle.write(text)


def passed(summary, cost):
    ok = summary['late_claims'] == 0 and summary['back'] == summary['lock_checks'] and summary['errors'] == 0
    if cost is not None:
        ok = ok and not cost['errors'] and cost.get('with_renewers') is not None and cost['renewal_commits'] == 0 and cost['other_commits'] == 0
    return ok


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--claim-loop']:
        claim_loop(json.loads(argv[1]), float(argv[2]), argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('kills', type=int, nargs='?', default=54)
    parser.add_argument('workers', type=int, nargs='?', default=3)
    parser.add_argument('--report', help='markdown file whose kill-load section to replace (or add)')
    parser.add_argument('--renewal-seconds', type=float, default=30, help='how long the claimers run, each way (0: not measured)')
    parser.add_argument('--renewers', type=int, default=16)
    parser.add_argument('--renewal-lease', type=float, default=RENEWAL_LEASE, help='the renewing holders\' lease, seconds (default %(default)s)')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--settle', type=float, default=SETTLE, help='seconds a killed play is given to claim late (default %(default)s)')
    options = parser.parse_args(argv)
    seed = options.seed if options.seed is not None else int(time.time()) % 100000
    command = 'python -m support.kill_load ' + ' '.join(argv)
    started = time.monotonic()
    with temporary_git_daemon('lockpool-kill-load-') as (daemon, workdir):
        rounds = run_kills(daemon, workdir, options.kills, options.workers, seed, options.settle)
        cost = None
        if options.renewal_seconds > 0:
            cost_workdir = os.path.join(workdir, 'renewal-cost')
            os.makedirs(cost_workdir)
            try:
                cost = run_renewal_cost(daemon, cost_workdir, options.renewal_seconds, options.renewers, lease=options.renewal_lease)
            except Exception as exc:  # pylint: disable=broad-except
                cost = {'errors': ['%s: %s' % (type(exc).__name__, exc)], 'renewers': options.renewers, 'claimers': 4,
                        'seconds': options.renewal_seconds, 'lease': options.renewal_lease, 'alone': {}}
    summary = summarize(rounds)
    ok = passed(summary, cost)
    print(json.dumps({'passed': ok, 'seed': seed, 'summary': summary, 'renewal_cost': cost}, default=str))
    for found in rounds:
        if found['errors'] or found['late_claims'] or found['back'] is False:
            print('round %(worker)d/%(round)d (%(phase)s, %(signal)s): late claims %(late_claims)d, back %(back)s, errors %(errors)s'
                  % found, file=sys.stderr)
            print(found.get('output', ''), file=sys.stderr)
    if options.report:
        write_report(options.report, render(summary, cost, options.workers, command, time.monotonic() - started, seed, options.settle))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

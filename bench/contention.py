"""(3) P jobs share K locks over git daemon, each acquire -> hold -> release R times, each operation a module run."""

import json
import math
import os
import subprocess
import sys
import time

from common import POOL, Lab, git, jain, median, percentile, row, target, timed
from support.modules import PYTHON, module_env, write_module_args
from support.repos import pool_state

CONTENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'contender.py')
TARGET_UTILIZATION = 0.8
TARGET_JAIN = 0.9
HANDOFF_GUESS = 0.4  # seconds a handoff costs, to size the rounds (not a result)
TIME_LIMIT = 900
BUSY_SECONDS = 24  # how long each run keeps its locks busy: long enough that the start-up burst of P module runs weighs little
FLOOR_REPETITIONS = 11


def double_holders(events_path):
    """Events where a lock was entered while another holder was inside it, read from the shared file in write order."""
    inside, violations = {}, []
    with open(events_path) as handle:
        for line in handle:
            kind, lock, holder, _when = line.split()
            if kind == 'enter':
                if lock in inside:
                    violations.append('%s entered %s held by %s' % (holder, lock, inside[lock]))
                inside[lock] = holder
            elif inside.pop(lock, None) != holder:
                violations.append('%s left %s it did not hold' % (holder, lock))
    return violations


def rounds_for(processes, locks, hold, busy_seconds):
    """Rounds per job that keep the locks busy about ``busy_seconds`` (bounded so a run stays short)."""
    return max(2, min(6, int(math.ceil(busy_seconds * locks / (processes * (hold + HANDOFF_GUESS))))))


def handoff_floor(lab, repetitions=FLOOR_REPETITIONS):
    """Seconds a handoff costs at the least when every lock operation is its own module run, and what that is made of.

    The releasing job starts a module process (here one that does nothing: ``ansible.builtin.command: true``, started
    as contender.py starts pool_lock) that pushes its release; the waiting job, already running, pushes its claim.
    The waiter's own start overlaps the hold.
    """
    repo = lab.pool_repo('handoff-floor.git', 1)
    work = os.path.join(lab.path, 'handoff-floor-work')
    git('clone', '-q', lab.url(os.path.basename(repo)), work)
    args = write_module_args({'_raw_params': 'true'})
    starts, pushes = [], []
    for repetition in range(repetitions):
        starts.append(timed(subprocess.run, [PYTHON, '-m', 'ansible.modules.command', args], check=True, capture_output=True,
                            env=module_env()))
        source, destination = ('unclaimed', 'claimed') if repetition % 2 == 0 else ('claimed', 'unclaimed')
        git('mv', '%s/%s/lock-0' % (POOL, source), '%s/%s/lock-0' % (POOL, destination), cwd=work)
        git('commit', '-q', '-m', '%s: lock-0' % destination, cwd=work)
        pushes.append(timed(git, 'push', '-q', 'origin', 'HEAD:main', cwd=work))
    os.unlink(args)
    return dict(module_start=median(starts), push=median(pushes), gap=median(starts) + 2 * median(pushes))


def contend(lab, processes, locks, hold, rounds, shared_cache):
    name = 'contention-%d-%d-%g-%s.git' % (processes, locks, hold, 'shared' if shared_cache else 'separate')
    repo = lab.pool_repo(name, locks)
    events = os.path.join(lab.path, name + '.events')
    start = time.monotonic() + 1.0 + 0.1 * processes
    jobs = []
    for index in range(processes):
        settings = dict(url=lab.url(name), holder='job-%d' % index, rounds=rounds, hold=hold, events=events,
                        start=start, timeout=TIME_LIMIT,
                        cache_dir=lab.cache_dir(name if shared_cache else '%s-%d' % (name, index)))
        jobs.append(subprocess.Popen([PYTHON, CONTENDER, json.dumps(settings)], stdout=subprocess.PIPE, env=module_env()))
    outputs = [json.loads(job.communicate(timeout=TIME_LIMIT)[0]) for job in jobs]
    if any(job.returncode for job in jobs):
        raise RuntimeError('a contending job failed (see its stderr above)')
    makespan = max(output['finished'] for output in outputs) - start
    acquisitions = [entry for output in outputs for entry in output['acquisitions']]
    waits = [entry['wait'] for entry in acquisitions]
    final = pool_state(repo, POOL)
    return dict(
        processes=processes, locks=locks, hold=hold, rounds=rounds, shared_cache=shared_cache,
        makespan=makespan,
        utilization=sum(entry['held'] for entry in acquisitions) / (locks * makespan),
        races_per_acquisition=sum(entry['races'] for entry in acquisitions) / float(len(acquisitions)),
        wait_p50=percentile(waits, 0.5), wait_p99=percentile(waits, 0.99),
        jain=jain([sum(entry['wait'] for entry in output['acquisitions']) for output in outputs]),
        double_holders=double_holders(events),
        locks_left_claimed=final['claimed'],
    )


def configurations(quick):
    if quick:
        return [(2, 1, 0.05, True)]
    shared = [(p, k, hold, True) for hold in (0.1, 1.0) for k in (1, 4) for p in (4, 8, 16)]
    return shared + [(16, 4, 1.0, False)]


def describe(run):
    return '%d jobs x %d locks, hold %gs, %d rounds, %s cache' % (
        run['processes'], run['locks'], run['hold'], run['rounds'], 'shared' if run['shared_cache'] else 'separate')


def run(quick):
    runs = []
    with Lab() as lab:
        for processes, locks, hold, shared_cache in configurations(quick):
            rounds = 1 if quick else rounds_for(processes, locks, hold, BUSY_SECONDS)
            runs.append(contend(lab, processes, locks, hold, rounds, shared_cache))
            print('  %s: utilization %.2f' % (describe(runs[-1]), runs[-1]['utilization']), file=sys.stderr, flush=True)
        floor = handoff_floor(lab, repetitions=2 if quick else FLOOR_REPETITIONS)
    columns = ['jobs x locks', 'hold', 'rounds', 'cache', 'makespan', 'utilization', 'races lost / acquisition',
               'wait p50', 'wait p99', 'Jain', 'double holders', 'locks left claimed']
    table = [['%d x %d' % (entry['processes'], entry['locks']), '%gs' % entry['hold'], entry['rounds'],
              'shared' if entry['shared_cache'] else 'separate', '%.1f s' % entry['makespan'], '%.2f' % entry['utilization'],
              '%.2f' % entry['races_per_acquisition'], '%.2f s' % entry['wait_p50'], '%.2f s' % entry['wait_p99'],
              '%.2f' % entry['jain'], len(entry['double_holders']), len(entry['locks_left_claimed'])] for entry in runs]
    checked = [entry for entry in runs if entry['shared_cache']][-1]  # 16 x 4, hold 1s in a full run
    ceiling = checked['hold'] / (checked['hold'] + floor['gap'])
    rows = [row('utilization, %s, against the most a handoff of module runs allows: hold / (hold + %.3f s to start a '
                'module that does nothing + 2 x %.3f s per git push)' % (describe(checked), floor['module_start'], floor['push']),
                checked['utilization'], '', ceiling, 'ceiling')]
    targets = [
        target('utilization >= %.1f (%s)' % (TARGET_UTILIZATION, describe(checked)), '%.2f' % checked['utilization'],
               checked['utilization'] >= TARGET_UTILIZATION),
        target('Jain >= %.1f (%s)' % (TARGET_JAIN, describe(checked)), '%.2f' % checked['jain'], checked['jain'] >= TARGET_JAIN),
        target('no double holder, no lock left claimed (every run)',
               '%d' % sum(len(entry['double_holders']) + len(entry['locks_left_claimed']) for entry in runs),
               not any(entry['double_holders'] or entry['locks_left_claimed'] for entry in runs)),
    ]
    return dict(title='Contention', rows=rows, targets=targets, table=dict(columns=columns, rows=table), runs=runs,
                handoff_floor=floor)

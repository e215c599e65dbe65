"""(7) Contention as playbooks: P ansible-playbook runs at once, each R rounds of claim any lock -> a shell task that
holds it -> release, on K locks over git daemon, against the floor: the larger of the same playbooks with trivial tasks
in place of the two lock tasks, and the exclusion bound P * R * hold / K.

    python bench/run.py --only playbook_contention              # the default: 16 playbooks, hold 1 s and 0.1 s
    python bench/playbook_contention.py --playbooks 4 8 --hold 1 --repetitions 3   # other sizes, table on stdout
"""

import argparse
import concurrent.futures
import glob
import json
import os
import resource
import sys
from xml.etree import ElementTree

if __name__ == '__main__':
    BENCH = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [BENCH, os.path.join(os.path.dirname(BENCH), 'tests'),
                    os.path.join(os.path.dirname(BENCH), 'build', 'collections')]

from ansible_task import playbook  # noqa: E402
from common import POOL, Lab, jain, median, percentile, row, target  # noqa: E402
from support.modules import run_playbook  # noqa: E402
from support.repos import pool_state  # noqa: E402

TARGET = 1.2
LOCKS = 4
ROUNDS = 3
PLAYBOOKS = (16,)
HOLDS = (1.0, 0.1)
REPETITIONS = 3
TIME_LIMIT = 900


def tasks(settings, job, locking):
    """The R rounds of one playbook; with ``locking`` false, ``command: true`` stands in for the two lock tasks."""
    lock = dict(repo=settings['url'], cache_dir=settings['cache_dir'], pool=POOL, holder=job, timeout=TIME_LIMIT)
    # One line per hold, appended after it ends: with O_APPEND a line this short is written whole.
    hold = ('s=$(date +%%s.%%N); sleep %g; e=$(date +%%s.%%N); echo "%s %s $s $e" >> %s'
            % (settings['hold'], '{{ claim.lock.name }}' if locking else 'none', job, settings['holds']))
    claim = {'lockpool.git.pool_lock': lock} if locking else {'ansible.builtin.command': 'true'}
    release = ({'lockpool.git.pool_lock': dict(lock, name='{{ claim.lock.name }}', token='{{ claim.lock.token }}',
                                               state='released')}
               if locking else {'ansible.builtin.command': 'true'})
    one_round = [dict(name='claim', register='claim', **claim), {'name': 'hold', 'ansible.builtin.shell': hold},
                 dict(name='release', **release)]
    return [json.dumps(task) for task in one_round * settings['rounds']]  # JSON is YAML: one task a line


def read_holds(path):
    holds = []
    with open(path) as handle:
        for line in handle:
            lock, job, started, ended = line.split()
            holds.append(dict(lock=lock, job=job, start=float(started), end=float(ended)))
    return holds


def double_holders(holds):
    """Holds that began before the previous hold of the same lock had ended, from the times the hold tasks recorded."""
    violations, by_lock = [], {}
    for hold in holds:
        by_lock.setdefault(hold['lock'], []).append(hold)
    for lock, entries in by_lock.items():
        entries.sort(key=lambda entry: entry['start'])
        for previous, entry in zip(entries, entries[1:]):
            if entry['start'] < previous['end']:
                violations.append('%s entered %s at %.3f, held by %s until %.3f'
                                  % (entry['job'], lock, entry['start'], previous['job'], previous['end']))
    return violations


def handoffs(holds):
    """Seconds from each hold's end to the next hold of the same lock: release, noticing it, claim, next task's start."""
    by_lock = {}
    for hold in holds:
        by_lock.setdefault(hold['lock'], []).append(hold)
    gaps = []
    for entries in by_lock.values():
        entries.sort(key=lambda entry: entry['start'])
        gaps += [entry['start'] - previous['end'] for previous, entry in zip(entries, entries[1:])]
    return gaps


def claim_waits(junit_dir):
    """{job: [seconds of each claim task]}, as the controller timed them (Ansible's junit callback)."""
    waits = {}
    for path in glob.glob(os.path.join(junit_dir, '*.xml')):
        job = os.path.basename(path).rsplit('-', 1)[0]
        waits[job] = [float(case.get('time')) for case in ElementTree.parse(path).iter('testcase')
                      if case.get('name', '').endswith(': claim')]
    return waits


def contend(lab, playbooks, hold, rounds, locks, locking, tag):
    """One run: ``playbooks`` ansible-playbook processes at once; returns what it measured."""
    name = 'playbooks-%d-%g-%s-%s' % (playbooks, hold, 'lock' if locking else 'trivial', tag)
    repo = lab.pool_repo(name + '.git', locks)
    work = os.path.join(lab.path, name)
    os.makedirs(os.path.join(work, 'junit'))
    settings = dict(url=lab.url(name + '.git'), cache_dir=lab.cache_dir(name), hold=hold, rounds=rounds,
                    holds=os.path.join(work, 'holds'))
    paths = [playbook(os.path.join(work, 'job-%d.yml' % index), tasks(settings, 'job-%d' % index, locking))
             for index in range(playbooks)]
    env = dict(ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.junit', JUNIT_OUTPUT_DIR=os.path.join(work, 'junit'),
               JUNIT_HIDE_TASK_ARGUMENTS='true')
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # every ansible-playbook and its children, once reaped
    with concurrent.futures.ThreadPoolExecutor(playbooks) as pool:
        completed = list(pool.map(lambda path: run_playbook(path, env=env, timeout=TIME_LIMIT), paths))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for process in completed:
        if process.returncode != 0:
            raise RuntimeError('a playbook failed: %s %s' % (process.stdout[-2000:], process.stderr[-2000:]))
    holds = read_holds(settings['holds'])
    window = max(entry['end'] for entry in holds) - min(entry['start'] for entry in holds)
    waits = claim_waits(os.path.join(work, 'junit')) if locking else {}
    all_waits = [wait for job_waits in waits.values() for wait in job_waits]
    gaps = handoffs(holds) if locking else []
    return dict(
        playbooks=playbooks, hold=hold, rounds=rounds, locks=locks, locking=locking, window=window,
        cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        utilization=sum(entry['end'] - entry['start'] for entry in holds) / (locks * window),
        wait_p50=percentile(all_waits, 0.5) if all_waits else None,
        wait_p99=percentile(all_waits, 0.99) if all_waits else None,
        jain=jain([sum(job_waits) for job_waits in waits.values()]) if waits else None,
        handoff_p50=percentile(gaps, 0.5) if gaps else None,
        double_holders=double_holders(holds) if locking else [],
        locks_left_claimed=pool_state(repo, POOL)['claimed'] if locking else [],
    )


def variant(lock_runs, trivial_runs):
    """One size's figures: each lock run against the floor of the trivial run it was interleaved with."""
    first = lock_runs[0]
    bound = first['playbooks'] * first['rounds'] * first['hold'] / first['locks']
    floors = [max(trivial['window'], bound) for trivial in trivial_runs]
    ratios = [lock['window'] / floor for lock, floor in zip(lock_runs, floors)]
    summary = dict((key, first[key]) for key in ('playbooks', 'hold', 'rounds', 'locks'))
    summary.update(
        repetitions=len(lock_runs), exclusion_bound=bound,
        window=median([run['window'] for run in lock_runs]),
        trivial_window=median([run['window'] for run in trivial_runs]), floor=median(floors),
        ratio=median(ratios), ratio_min=min(ratios), ratio_max=max(ratios), ratios=ratios,
        utilization=median([run['utilization'] for run in lock_runs]),
        wait_p50=median([run['wait_p50'] for run in lock_runs]), wait_p99=median([run['wait_p99'] for run in lock_runs]),
        jain=median([run['jain'] for run in lock_runs]),
        handoff_p50=median([run['handoff_p50'] or 0.0 for run in lock_runs]),
        double_holders=sum(len(run['double_holders']) for run in lock_runs),
        locks_left_claimed=sum(len(run['locks_left_claimed']) for run in lock_runs),
        cpu=median([run['cpu'] for run in lock_runs]), trivial_cpu=median([run['cpu'] for run in trivial_runs]),
        lock_runs=lock_runs, trivial_runs=trivial_runs)
    return summary


def describe(entry):
    return '%d playbooks x %d rounds on %d locks, hold %gs' % (
        entry['playbooks'], entry['rounds'], entry['locks'], entry['hold'])


def run(quick, playbooks=None, holds=None, repetitions=None):
    playbooks = playbooks or ((2,) if quick else PLAYBOOKS)
    holds = holds or ((0.05,) if quick else HOLDS)
    repetitions = repetitions or (1 if quick else REPETITIONS)
    rounds, locks = (1, 1) if quick else (ROUNDS, LOCKS)
    sizes = [(count, hold) for hold in holds for count in playbooks]
    runs = dict((size, dict(lock=[], trivial=[])) for size in sizes)
    with Lab() as lab:
        for repetition in range(repetitions):
            for count, hold in sizes:
                # Interleaved, and in turn first, so a busier stretch of the machine does not favour one side.
                for locking in ((True, False) if repetition % 2 == 0 else (False, True)):
                    entry = contend(lab, count, hold, rounds, locks, locking, str(repetition))
                    runs[(count, hold)]['lock' if locking else 'trivial'].append(entry)
                    print('  %s, %s: window %.1f s, CPU %.1f s' % (describe(entry), 'lock tasks' if locking else 'trivial tasks',
                                                                   entry['window'], entry['cpu']), file=sys.stderr, flush=True)
    variants = [variant(runs[size]['lock'], runs[size]['trivial']) for size in sizes]
    columns = ['playbooks x rounds', 'locks', 'hold', 'window (lock tasks)', 'trivial tasks', 'P·R·hold/K', 'ratio to floor',
               'utilization', 'handoff p50', 'claim task p50', 'claim task p99', 'Jain', 'double holders', 'locks left claimed',
               'CPU (lock tasks)', 'CPU (trivial tasks)']
    table = [['%d x %d' % (entry['playbooks'], entry['rounds']), entry['locks'], '%gs' % entry['hold'],
              '%.1f s' % entry['window'], '%.1f s' % entry['trivial_window'], '%.1f s' % entry['exclusion_bound'],
              '%.2fx (%.2f-%.2f, %d runs)' % (entry['ratio'], entry['ratio_min'], entry['ratio_max'], entry['repetitions']),
              '%.2f' % entry['utilization'], '%.2f s' % entry['handoff_p50'], '%.2f s' % entry['wait_p50'],
              '%.2f s' % entry['wait_p99'], '%.2f' % entry['jain'],
              entry['double_holders'], entry['locks_left_claimed'], '%.1f s' % entry['cpu'], '%.1f s' % entry['trivial_cpu']]
             for entry in variants]
    rows = [row('first hold to last, %s (median of %d; lock and trivial runs interleaved)' % (describe(entry), entry['repetitions']),
                entry['window'], 's', entry['floor'], 'floor: the larger of the trivial-task playbooks and P·R·hold/K')
            for entry in variants]
    targets = [target('playbooks within %.1fx their floor (%s)' % (TARGET, describe(entry)),
                      '%.2fx' % entry['ratio'], entry['ratio'] <= TARGET) for entry in variants]
    targets.append(target('no double holder, no lock left claimed (every playbook run)',
                          '%d' % sum(entry['double_holders'] + entry['locks_left_claimed'] for entry in variants),
                          not any(entry['double_holders'] or entry['locks_left_claimed'] for entry in variants)))
    return dict(title='Contention as playbooks', rows=rows, targets=targets, table=dict(columns=columns, rows=table),
                variants=variants)


def main(argv=None):
    import report
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--playbooks', type=int, nargs='+', default=PLAYBOOKS, help='playbooks run at once')
    parser.add_argument('--hold', type=float, nargs='+', default=HOLDS, help='seconds each hold lasts')
    parser.add_argument('--repetitions', type=int, default=REPETITIONS, help='runs of each size and side')
    parser.add_argument('--json', help='write the section as JSON here')
    options = parser.parse_args(argv)
    section = run(False, options.playbooks, options.hold, options.repetitions)
    print(report.markdown(report.results({'playbook_contention': section}, False)))
    if options.json:
        report.write_json(section, options.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())

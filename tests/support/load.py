"""Load: contending processes acquire and release the locks of one pool over git daemon; the figures it proves.

Each contender (contender.py) logs ``enter``/``leave`` events to one shared file. The figures come from that
log and from the repository afterwards, never from the engine's own word. ``make test`` runs this at a small
size (test_contention.py); ``make stress`` runs it at full size and writes the figures to docs/reliability.md:

    python -m support.load PROCESSES CYCLES LOCKS [--report docs/reliability.md]
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

from support.modules import PYTHON, module_env
from support.repos import git, make_lock_repo, pool_state
from support.servers import temporary_git_daemon

CONTENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'contender.py')
POOL = 'aws'
REPORT_BEGIN = '<!-- stress figures: written by make stress -->'
REPORT_END = '<!-- end of stress figures -->'

Figures = collections.namedtuple('Figures', 'processes cycles locks operations errors double_holders lost_locks duration '
                                 'fewest_turns most_turns')
Result = collections.namedtuple('Result', 'figures events failures repo')


def lock_names(count):
    return ['env-%d' % number for number in range(1, count + 1)]


def run_contenders(url, workdir, processes, cycles, shared_cache_for, time_limit, extra_args=None, hold=None):
    """Start the contenders (the first ``shared_cache_for`` share one cache); returns (events, failure outputs).

    ``extra_args`` are more pool_lock options for every acquisition (``count: 2``, ``fair: false``, ...);
    ``hold`` (seconds) how long each acquisition is held (default: a random 0 to 20 ms).
    """
    log = os.path.join(workdir, 'events.log')
    started = []
    for holder_id in range(processes):
        cache = 'shared' if holder_id < shared_cache_for else 'own-%d' % holder_id
        args = {'repo': url, 'pool': POOL, 'cache_dir': os.path.join(workdir, cache), 'timeout': 300, 'retry_delay': '0.2s'}
        args.update(extra_args or {})
        command = [PYTHON, CONTENDER, str(holder_id), str(cycles), log, json.dumps(args)] + ([] if hold is None else [str(hold)])
        started.append(subprocess.Popen(command,
                                        env=module_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    failures = []
    for process in started:
        output = process.communicate(timeout=time_limit)[0]
        if process.returncode != 0:
            failures.append(output)
    if not os.path.exists(log):
        return [], failures
    with open(log) as handle:
        return [line.split() for line in handle], failures


def double_holders(events):
    """How many times a contender entered a lock that another contender was inside."""
    holder_of = {}
    overlaps = 0
    for event, lock, holder_id in events:
        if event == 'enter':
            overlaps += lock in holder_of
            holder_of[lock] = holder_id
        elif holder_of.get(lock) == holder_id:
            del holder_of[lock]
    return overlaps


def lost_locks(repo, names):
    """Locks that, with every contender gone, are not in the pool exactly once and unclaimed."""
    state = pool_state(repo, POOL)
    return sum(1 for name in names if state['unclaimed'].count(name) != 1 or name in state['claimed'])


def run_load(daemon, workdir, processes, cycles, locks, shared_cache_for=None, time_limit=600):
    names = lock_names(locks)
    repo = make_lock_repo(os.path.join(daemon.base, 'load.git'), {POOL: {name: name + '\n' for name in names}})
    started = time.monotonic()
    events, failures = run_contenders(daemon.url('load.git'), workdir, processes, cycles,
                                      processes // 2 if shared_cache_for is None else shared_cache_for, time_limit)
    duration = time.monotonic() - started
    turns = collections.Counter(holder_id for event, _lock, holder_id in events if event == 'enter')
    turns_each = [turns[str(holder_id)] for holder_id in range(processes)]
    figures = Figures(processes, cycles, locks, operations=2 * sum(turns_each), errors=len(failures),
                      double_holders=double_holders(events), lost_locks=lost_locks(repo, names), duration=duration,
                      fewest_turns=min(turns_each), most_turns=max(turns_each))
    return Result(figures, events, failures, repo)


def write_report(path, figures, fsck_clean):
    """Replace the figures between the markers in ``path`` (docs/reliability.md)."""
    rows = [
        ('contending processes x acquisitions each, locks', '%d x %d, %d' % (figures.processes, figures.cycles, figures.locks)),
        ('operations (acquire + release) completed', '%d' % figures.operations),
        ('errors', '%d' % figures.errors),
        ('acquisitions per process, fewest and most', '%d, %d' % (figures.fewest_turns, figures.most_turns)),
        ('double holders', '%d' % figures.double_holders),
        ('lost locks', '%d' % figures.lost_locks),
        ('git fsck of the server repository', 'clean' if fsck_clean else 'NOT CLEAN'),
        ('duration', '%.0f s (%.1f operations/s)' % (figures.duration, figures.operations / figures.duration)),
        ('measured on', '%s, %d cores, %s' % (time.strftime('%Y-%m-%d'), os.cpu_count(), git('--version').strip())),
    ]
    table = '\n'.join(['| figure | value |', '|---|---|'] + ['| %s | %s |' % row for row in rows])
    with open(path) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(REPORT_BEGIN) + '.*?' + re.escape(REPORT_END), re.DOTALL)
    with open(path, 'w') as handle:
        handle.write(pattern.sub(lambda _match: '%s\n%s\n%s' % (REPORT_BEGIN, table, REPORT_END), text))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('processes', type=int)
    parser.add_argument('cycles', type=int)
    parser.add_argument('locks', type=int)
    parser.add_argument('--report', help='markdown file whose stress figures to replace')
    options = parser.parse_args()
    with temporary_git_daemon('lockpool-stress-') as (daemon, workdir):
        result = run_load(daemon, workdir, options.processes, options.cycles, options.locks, time_limit=4 * 3600)
        fsck_clean = subprocess.run(['git', 'fsck', '--strict'], cwd=result.repo, capture_output=True, check=False).returncode == 0
    print(json.dumps(result.figures._asdict()))
    for failure in result.failures:
        print(failure[-2000:], file=sys.stderr)
    if options.report:
        write_report(options.report, result.figures, fsck_clean)
    figures = result.figures
    return 0 if (figures.errors, figures.double_holders, figures.lost_locks, fsck_clean) == (0, 0, 0, True) else 1


if __name__ == '__main__':
    sys.exit(main())

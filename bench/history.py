"""(4) Op latency on lock repositories with long histories: the cost of an operation must not grow with history."""

import os
import subprocess

from common import POOL, Lab, engine_cycle, median, row, target, timed
from support.repos import GIT_ENV

TARGET = 1.2
LOCKS = 4


def fast_import_history(path, commits):
    """A bare lock repository with ``commits`` commits: the pool, then lock-0 claimed and released in turn (the benchmark uses lock-1)."""
    subprocess.run(['git', 'init', '-q', '--bare', '-b', 'main', path], env=GIT_ENV, check=True)
    importer = subprocess.Popen(['git', 'fast-import', '--quiet'], cwd=path, env=GIT_ENV, stdin=subprocess.PIPE)

    def commit(number, message, changes):
        importer.stdin.write(('commit refs/heads/main\ncommitter bench <bench@localhost> %d +0000\ndata %d\n%s\n%s\n'
                              % (1700000000 + number, len(message), message, ''.join(changes))).encode())

    files = ['%s/%s/.gitkeep' % (POOL, state) for state in ('claimed', 'unclaimed')]
    files += ['%s/unclaimed/lock-%d' % (POOL, index) for index in range(LOCKS)]
    commit(0, 'initial pools', ['M 100644 inline %s\ndata 0\n' % name for name in files])
    moves = (('unclaimed', 'claimed', 'claiming'), ('claimed', 'unclaimed', 'releasing'))
    for number in range(1, commits):
        source, destination, verb = moves[(number - 1) % 2]
        commit(number, '%s: lock-0' % verb, ['R %s/%s/lock-0 %s/%s/lock-0\n' % (POOL, source, POOL, destination)])
    importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError('git fast-import failed for %s' % path)
    return path


def run(quick):
    sizes = (10, 100) if quick else (100, 10000, 100000)
    repetitions = 3 if quick else 11
    latencies = {}
    with Lab() as lab:
        for commits in sizes:
            repo = fast_import_history(os.path.join(lab.repos, 'history-%d.git' % commits), commits)
            cache_dir = lab.cache_dir('history-%d' % commits)
            engine_cycle(repo, cache_dir, 'lock-1')  # warm: the first run fetches the whole history once
            latencies[commits] = median([timed(engine_cycle, repo, cache_dir, 'lock-1') for _repetition in range(repetitions)])
    smallest, largest = sizes[0], sizes[-1]
    rows = [row('acquire + release, %d commits of history' % commits, latencies[commits], 's',
                latencies[smallest], '%d commits' % smallest) for commits in sizes]
    growth = latencies[largest] / latencies[smallest]
    return dict(title='History growth', rows=rows,
                targets=[target('%d/%d commits latency ratio <= %.1f' % (largest, smallest, TARGET), '%.2f' % growth,
                                growth <= TARGET)])

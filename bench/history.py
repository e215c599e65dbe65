"""(4) Op latency on lock repositories with long histories: the cost of an operation must not grow with history."""

import os

from common import POOL, FastImport, Lab, engine_cycle, inline_file, median, row, target, timed

TARGET = 1.2
LOCKS = 4


def fast_import_history(path, commits):
    """A bare lock repository with ``commits`` commits: the pool, then lock-0 claimed and released in turn (the benchmark uses lock-1)."""
    repo = FastImport(path)
    files = ['%s/%s/.gitkeep' % (POOL, state) for state in ('claimed', 'unclaimed')]
    files += ['%s/unclaimed/lock-%d' % (POOL, index) for index in range(LOCKS)]
    repo.commit('initial pools', [inline_file(name, '') for name in files])
    moves = (('unclaimed', 'claimed', 'claiming'), ('claimed', 'unclaimed', 'releasing'))
    for number in range(1, commits):
        source, destination, verb = moves[(number - 1) % 2]
        repo.commit('%s: lock-0' % verb, ['R %s/%s/lock-0 %s/%s/lock-0\n' % (POOL, source, POOL, destination)])
    return repo.close()


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

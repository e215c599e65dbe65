"""(1) One acquire + one release through the engine, against the same change made with plain git commands."""

import os

from common import POOL, Lab, engine_cycle, git, median, row, target, timed

TARGET = 1.3


def git_floor_cycle(work, name):
    """The change an engine acquire + release makes, by hand in a work clone: fetch, reset, mv, commit, push, twice."""
    for source, destination in (('unclaimed', 'claimed'), ('claimed', 'unclaimed')):
        git('fetch', '-q', 'origin', cwd=work)
        git('reset', '-q', '--hard', 'origin/main', cwd=work)
        git('mv', '%s/%s/%s' % (POOL, source, name), '%s/%s/%s' % (POOL, destination, name), cwd=work)
        git('commit', '-q', '-m', '%s: %s' % (destination, name), cwd=work)
        git('push', '-q', 'origin', 'HEAD:main', cwd=work)


def measure(lab, transport, repetitions):
    repo = lab.pool_repo('floor-%s.git' % transport, 4)
    url = repo if transport == 'local' else lab.url(os.path.basename(repo))
    work = os.path.join(lab.path, 'floor-work-%s' % transport)
    git('clone', '-q', url, work)
    cache_dir = lab.cache_dir('floor-' + transport)
    engine_cycle(url, cache_dir, 'lock-0')  # warm: the cache exists, as it does after a machine's first run
    engine, floor = [], []
    for _repetition in range(repetitions):  # interleaved, so machine noise hits both alike
        engine.append(timed(engine_cycle, url, cache_dir, 'lock-0'))
        floor.append(timed(git_floor_cycle, work, 'lock-1'))
    return median(engine), median(floor)


def run(quick):
    repetitions = 3 if quick else 21
    rows, targets = [], []
    with Lab() as lab:
        for transport in ('local', 'git daemon'):
            engine, floor = measure(lab, transport.replace(' ', '-'), repetitions)
            rows.append(row('acquire + release, %s (median of %d)' % (transport, repetitions), engine, 's',
                            floor, 'plain git: fetch, reset --hard, mv, commit, push (x2)'))
            targets.append(target('engine <= %.1fx the git floor (%s)' % (TARGET, transport),
                                  '%.2fx' % (engine / floor), engine / floor <= TARGET))
    return dict(title='Engine op vs the git floor', rows=rows, targets=targets)

"""(5) Acquire (any free lock) and pool_lock_info latency, module runs, with pools of growing size."""

import os

from common import POOL, Lab, median, module_present, row, run_measured, target

TARGET = 2.0


def acquire_latency(args, repetitions):
    """Median wall time of an acquire of any free lock; each acquired lock is released (untimed)."""
    latencies = []
    for _repetition in range(repetitions):
        result, wall, _cpu, _rss = run_measured('pool_lock', args)
        latencies.append(wall)
        run_measured('pool_lock', dict(args, name=result['lock']['name'], state='released'))
    return median(latencies)


def info_latency(args, repetitions):
    return median([run_measured('pool_lock_info', args)[1] for _repetition in range(repetitions)])


def run(quick):
    sizes = (10, 100) if quick else (10, 1000, 10000)
    repetitions = 2 if quick else 9
    has_info = module_present('pool_lock_info')
    acquire, info = {}, {}
    with Lab() as lab:
        for locks in sizes:
            repo = lab.pool_repo('pool-%d.git' % locks, locks)
            args = dict(repo=lab.url(os.path.basename(repo)), cache_dir=lab.cache_dir('pool-%d' % locks), pool=POOL,
                        holder='bench')
            acquire_latency(args, 1)  # warm: the cache exists
            acquire[locks] = acquire_latency(args, repetitions)
            if has_info:
                info[locks] = info_latency(dict(repo=args['repo'], cache_dir=args['cache_dir'], pool=POOL), repetitions)
    smallest, largest = sizes[0], sizes[-1]
    rows = [row('acquire any lock, %d locks (median of %d)' % (locks, repetitions), acquire[locks], 's',
                acquire[smallest], '%d locks' % smallest) for locks in sizes]
    if has_info:
        rows += [row('pool_lock_info, %d locks' % locks, info[locks], 's', info[smallest], '%d locks' % smallest)
                 for locks in sizes]
    else:
        rows.append(row('pool_lock_info', 'n/a: pool_lock_info not present', ''))
    growth = acquire[largest] / acquire[smallest]
    return dict(title='Pool size', rows=rows,
                targets=[target('acquire with %d locks <= %.0fx the %d-lock pool' % (largest, TARGET, smallest),
                                '%.2fx' % growth, growth <= TARGET)])

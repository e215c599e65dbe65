"""(5) Acquire (any free lock) and pool_lock_info latency, module runs, with pools of growing size, and pool_lock_info
of a claimed pool with a long history (half its locks claimed, their claims spread over the history)."""

import os

from common import POOL, Lab, claimed_pool_repo, median, module_present, row, run_measured, target

TARGET = 2.0
INFO_TARGET = 2.0


def acquire_latency(args, repetitions):
    """Median wall time of an acquire of any free lock; each acquired lock is released (untimed)."""
    latencies = []
    for _repetition in range(repetitions):
        result, wall, _cpu, _rss = run_measured('pool_lock', args)
        latencies.append(wall)
        run_measured('pool_lock', dict(args, name=result['lock']['name'], state='released'))
    return median(latencies)


def info_latency(args, repetitions):
    run_measured('pool_lock_info', args)  # warm: the cache has fetched
    return median([run_measured('pool_lock_info', args)[1] for _repetition in range(repetitions)])


def run(quick):
    sizes = (10, 100) if quick else (10, 1000, 10000)
    locks_claimed_commits = (100, 50, 300) if quick else (1000, 500, 3000)
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
        if has_info:
            claimed_pool_repo(os.path.join(lab.repos, 'claimed.git'), *locks_claimed_commits)
            claimed_info = info_latency(dict(repo=lab.url('claimed.git'), cache_dir=lab.cache_dir('claimed'), pool=POOL), repetitions)
    smallest, largest = sizes[0], sizes[-1]
    rows = [row('acquire any lock, %d locks (median of %d)' % (locks, repetitions), acquire[locks], 's',
                acquire[smallest], '%d locks' % smallest) for locks in sizes]
    growth = acquire[largest] / acquire[smallest]
    targets = [target('acquire with %d locks <= %.0fx the %d-lock pool' % (largest, TARGET, smallest), '%.2fx' % growth,
                      growth <= TARGET)]
    if has_info:
        rows += [row('pool_lock_info, %d locks (median of %d)' % (locks, repetitions), info[locks], 's', info[smallest],
                     '%d locks' % smallest) for locks in sizes]
        claimed_label = '%d locks, %d claimed, %d commits' % locks_claimed_commits
        rows.append(row('pool_lock_info, %s (median of %d)' % (claimed_label, repetitions), claimed_info, 's',
                        info[smallest], '%d locks' % smallest))
        info_growth, claimed_growth = info[largest] / info[smallest], claimed_info / info[smallest]
        targets += [target('pool_lock_info with %d locks <= %.0fx the %d-lock pool' % (largest, INFO_TARGET, smallest),
                           '%.2fx' % info_growth, info_growth <= INFO_TARGET),
                    target('pool_lock_info with %s <= %.0fx the %d-lock pool' % (claimed_label, INFO_TARGET, smallest),
                           '%.2fx' % claimed_growth, claimed_growth <= INFO_TARGET)]
    else:
        rows.append(row('pool_lock_info', 'n/a: pool_lock_info not present', ''))
    return dict(title='Pool size', rows=rows, targets=targets)

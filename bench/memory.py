"""(6) Peak RSS and CPU time of one module run, and the CPU a waiting run burns, against the ping module."""

import os

from common import POOL, Lab, median, row, run_measured, target

WAIT_SHORT, WAIT_LONG = 1, 4  # two timed-out waits; their CPU difference is what waiting costs
CPU_BUDGET = 0.5  # seconds of CPU one acquire run may cost


def run(quick):
    repetitions = 2 if quick else 7
    with Lab() as lab:
        repo = lab.pool_repo('memory.git', 2)
        args = dict(repo=lab.url(os.path.basename(repo)), cache_dir=lab.cache_dir('memory'), pool=POOL, name='lock-0',
                    holder='bench')
        runs, pings = [], []
        run_measured('pool_lock', args)  # warm: the cache exists, lock-0 is ours
        for _repetition in range(repetitions):
            run_measured('pool_lock', dict(args, state='released'))
            runs.append(run_measured('pool_lock', args))
            pings.append(run_measured('ansible.modules.ping', {}))
        waits = [run_measured('pool_lock', dict(args, holder='someone-else', timeout=seconds), check=False)[2]
                 for seconds in (WAIT_SHORT, WAIT_LONG)]
    cpu, ping_cpu = median([entry[2] for entry in runs]), median([entry[2] for entry in pings])
    rss, ping_rss = max(entry[3] for entry in runs), max(entry[3] for entry in pings)
    waiting_cpu = max(0.0, waits[1] - waits[0]) / (WAIT_LONG - WAIT_SHORT)
    return dict(
        title='Memory and CPU of one module run',
        rows=[row('peak RSS, one acquire run (git children included)', rss, 'KiB', ping_rss, 'ansible.builtin.ping run'),
              row('CPU time, one acquire run (git children included)', cpu, 's', ping_cpu, 'ansible.builtin.ping run'),
              row('CPU per second spent waiting for a held lock', waiting_cpu, 's')],
        targets=[target('one acquire run costs <= %.1f s CPU' % CPU_BUDGET, '%.3f s' % cpu, cpu <= CPU_BUDGET),
                 target('16 waiting jobs use < 1 of 2 cores', '%.2f cores' % (16 * waiting_cpu), 16 * waiting_cpu < 1)])

"""Many real processes contending for a pool of 2 locks: never two holders, nothing lost.

The same code as ``make stress`` (support/load.py), at a size that suits ``make test``.
"""

import collections
import itertools
import os

from support.load import POOL, double_holders, run_contenders, run_load
from support.repos import commit_count, git, make_lock_repo, pool_state

PROCESSES = 8
CYCLES = 20
LOCKS = 2


def test_eight_processes_over_git_daemon_never_share_a_lock(git_daemon, tmp_path):
    result = run_load(git_daemon, str(tmp_path), PROCESSES, CYCLES, LOCKS)

    assert result.failures == []
    assert result.figures.double_holders == 0
    assert result.figures.lost_locks == 0
    enters = collections.Counter(holder_id for event, _lock, holder_id in result.events if event == 'enter')
    assert enters == {str(holder_id): CYCLES for holder_id in range(PROCESSES)}
    assert result.figures.operations == 2 * PROCESSES * CYCLES
    assert commit_count(result.repo) == 1 + 2 * PROCESSES * CYCLES
    git('fsck', '--strict', cwd=result.repo)


def test_double_holders_counts_an_overlap_in_the_event_log():
    events = [('enter', 'env-1', '0'), ('enter', 'env-1', '1'), ('leave', 'env-1', '0'), ('leave', 'env-1', '1')]
    assert double_holders(events) == 1


def test_claimers_on_one_machine_and_on_another_take_turns_with_the_default_settings(git_daemon, tmp_path):
    # Five contenders share a cache (each hears of the others' releases at once), one has its own, as a job on
    # another runner; all keep asking for the one lock. Without the fair queue, a releaser's next claim and its
    # neighbours win again and again (runs of 10 turns were seen) and the other runner waits for all of them.
    repo = make_lock_repo(os.path.join(git_daemon.base, 'mixed.git'), {POOL: {'env-1': 'a\n'}})
    events, failures = run_contenders(git_daemon.url('mixed.git'), str(tmp_path), processes=6, cycles=8,
                                      shared_cache_for=5, time_limit=300, hold=0.2,
                                      extra_args={'timeout': 120, 'retry_delay': '10s'})  # 10s: the module's default

    assert failures == []
    turns = [holder_id for event, _lock, holder_id in events if event == 'enter']
    assert collections.Counter(turns) == {str(holder_id): 8 for holder_id in range(6)}
    assert longest_run(turns) <= 2, ''.join(turns)
    assert double_holders(events) == 0
    assert pool_state(repo, POOL)['unclaimed'] == ['env-1']


def longest_run(turns):
    return max(len(list(run)) for _holder, run in itertools.groupby(turns))

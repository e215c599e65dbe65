"""Many real processes contending for a pool of 2 locks: never two holders, nothing lost.

The same code as ``make stress`` (support/load.py), at a size that suits ``make test``.
"""

import collections

from support.load import double_holders, run_load
from support.repos import commit_count, git

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

"""What waiting costs the server: the machine's shared view of it, and the requests a fair waiter makes while it waits.

The view is tested on its real files (MachineCoordination, in tmp_path) with a clock the test moves; the waiting loop
on the in-memory git layer, whose server counts the requests it serves.
"""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockTimeoutError
from ansible_collections.lockpool.git.plugins.module_utils._machine import MachineCoordination
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Release, Request
from ansible_collections.lockpool.git.plugins.module_utils._queue import (HEAD_LOOK_EVERY, QUEUE_VIEW_MAX_AGE, RECHECK_EVERY, RENEW_AFTER,
                                                                          TICKET_LIFE, FairWaiter)
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FakeRepoCache
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, earlier_waiter

PATTERNS = ('refs/heads/main', 'refs/lockpool/queue/main/*')


class Reads(object):
    """A read of the server's refs that counts how often it was made."""

    def __init__(self):
        self.made = 0

    def __call__(self):
        self.made += 1
        return {'refs/heads/main': 'a' * 40, 'read': str(self.made)}


@pytest.fixture
def machine(tmp_path):
    return MachineCoordination(str(tmp_path / 'cache.git'), 'main')


# -- the machine's view ------------------------------------------------------------

def test_the_runs_of_a_machine_share_one_read_of_the_server_while_it_is_younger_than_their_max_age(machine, clock):
    read = Reads()
    assert machine.shared_view(PATTERNS, 5, read, clock=clock) == machine.shared_view(PATTERNS, 5, read, clock=clock)
    clock.advance(4.9)
    machine.shared_view(PATTERNS, 5, read, clock=clock)
    assert read.made == 1
    clock.advance(0.1)
    assert machine.shared_view(PATTERNS, 5, read, clock=clock)['read'] == '2'


def test_a_reader_with_a_shorter_max_age_reads_again_for_everyone(machine, clock):
    read = Reads()
    machine.shared_view(PATTERNS, 10, read, clock=clock)
    clock.advance(3)
    machine.shared_view(PATTERNS, 2.5, read, clock=clock)
    assert machine.shared_view(PATTERNS, 10, read, clock=clock)['read'] == '2' and read.made == 2


def test_a_push_announced_on_the_machine_makes_the_view_stale(machine, clock):
    read = Reads()
    machine.shared_view(PATTERNS, 60, read, clock=clock)
    machine.announce('b' * 40)
    assert machine.shared_view(PATTERNS, 60, read, clock=clock)['read'] == '2'


def test_a_look_that_must_not_ask_gets_a_fresh_view_or_nothing(machine, clock):
    read = Reads()
    assert machine.shared_view(PATTERNS, 5, None, clock=clock) is None
    machine.shared_view(PATTERNS, 5, read, clock=clock)
    assert machine.shared_view(PATTERNS, 5, None, clock=clock)['read'] == '1'
    clock.advance(5)
    assert machine.shared_view(PATTERNS, 5, None, clock=clock) is None and read.made == 1


def test_views_of_other_refs_are_kept_apart(machine, clock):
    read = Reads()
    machine.shared_view(PATTERNS, 5, read, clock=clock)
    machine.shared_view(PATTERNS[:1], 5, read, clock=clock)
    assert read.made == 2 and machine.view_age(PATTERNS, clock=clock) == 0.0


# -- a fair waiter -----------------------------------------------------------------

def fair_claim(clock, holder='alice', **params):
    return Claim(Request('aws', holder, True), dict(params, fair=True), clock=clock)


def wait_for(cache, clock, seconds, **params):
    """A fair claim of env-1 that waits ``seconds`` and times out; the server's requests during the wait."""
    operation = fair_claim(clock, name='env-1', **params)
    with cache.exclusive():
        cache.fetch()
    before = dict(cache.server.requests)
    with pytest.raises(LockTimeoutError, match='gave up after'):
        transaction.run(cache, operation, timeout=seconds, poll_interval=10, clock=clock)
    return dict((kind, count - before.get(kind, 0)) for kind, count in cache.server.requests.items())


def test_a_waiting_fair_claim_fetches_only_as_it_starts_while_nothing_moves(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    assert wait_for(cache, clock, 120)['fetch'] == 1  # its wait, decided on the cache's state, decided again on fetched state


def test_the_head_of_the_queue_looks_at_the_branch_and_the_queue_in_one_ls_remote_per_head_look(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    requests = wait_for(cache, clock, 100)
    assert 100 / HEAD_LOOK_EVERY <= requests['ls-remote'] <= 100 / HEAD_LOOK_EVERY + 2


def test_a_waiter_further_back_looks_less_often(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    earlier_waiter(server, 'aws', wanted=1)
    requests = wait_for(cache, clock, 100)
    assert 100 / (2 * HEAD_LOOK_EVERY) <= requests['ls-remote'] <= 100 / (2 * HEAD_LOOK_EVERY) + 2


def test_a_waiter_pushes_its_ticket_then_renews_it_every_renewal_interval(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    requests = wait_for(cache, clock, 14.5 * RENEW_AFTER)
    assert requests['push'] == 1 + 14  # the ticket, then its renewals


def test_a_ticket_outlives_two_late_renewals_and_the_oldest_view_of_the_queue():
    # a waiter renews at its first decision RENEW_AFTER after the last renewal: up to RECHECK_EVERY late
    assert TICKET_LIFE >= 2 * (RENEW_AFTER + RECHECK_EVERY) + QUEUE_VIEW_MAX_AGE


def test_a_waiters_decisions_read_the_queue_from_the_view_its_looks_keep(cache, server, clock):
    earlier_waiter(server, 'aws', wanted=1)
    waiter = FairWaiter(cache, 'aws', 1, clock=clock)
    with cache.exclusive():
        cache.fetch()
    look_every = waiter.before_wait(cache.local_head())
    read = server.requests['ls-remote']
    clock.advance(look_every / 2)
    assert waiter.wanted_ahead() == 1 and server.requests['ls-remote'] == read


def test_a_push_from_this_machine_wakes_its_waiter_which_reads_the_queue_again_before_it_claims(cache, server, clock):
    other = FakeRepoCache(server, machine=cache.machine)
    transaction.run(other, fair_claim(clock, 'bob', name='env-1'), clock=clock)
    ahead = earlier_waiter(server, 'aws', wanted=1)
    clock.call_after(3, lambda: server.refs.pop(ahead))  # the waiter ahead leaves; the view still shows it

    def release():
        transaction.run(other, Release(Request('aws', 'bob', True), dict(name='env-1')), clock=clock)
    clock.call_after(4, release)
    outcome = transaction.run(cache, fair_claim(clock, name='env-1'), poll_interval=10, clock=clock)
    assert outcome.commit == server.head and outcome.waited == 4

"""A waiter killed in the fair queue: the runs of its machine tell it from one that waits, and delete its ticket.

The notes are tested on their real files (MachineCoordination, in tmp_path), written by forked processes that end;
the queue's use of them on the in-memory git layer, where ``FakeMachine.kill_waiter`` ends a noted waiter.
"""

import os

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _machine
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._machine import MachineCoordination
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Request
from ansible_collections.lockpool.git.plugins.module_utils._queue import GONE_NOTE_LIFE, FairWaiter
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FakeRepoCache
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, earlier_waiter, queue_refs

KILLED = 'dead00000001'


@pytest.fixture
def machine(tmp_path):
    return MachineCoordination(str(tmp_path / 'cache.git'), 'main')


def noted_by_a_process_that_ends(machine, ticket_id, system=None):
    """``ticket_id`` noted by a forked process that then ends without forgetting it (as SIGKILL leaves it)."""
    pid = os.fork()
    if pid == 0:
        try:
            if system is not None:
                _machine.this_system = lambda: system
            machine.note_waiter(ticket_id)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


# -- the notes, on their files -----------------------------------------------------

def test_a_waiter_that_lives_is_not_gone(machine):
    machine.note_waiter('a1')
    assert machine.gone_waiters() == []


def test_a_waiter_whose_process_ended_without_forgetting_its_note_is_gone(machine):
    noted_by_a_process_that_ends(machine, 'a1')
    assert [waiter.ticket_id for waiter in machine.gone_waiters()] == ['a1']


def test_a_note_written_on_another_system_is_never_judged(machine):
    noted_by_a_process_that_ends(machine, 'a1', system='other-host 0b1d 4026531836')
    assert machine.gone_waiters() == []


def test_one_run_only_frees_a_gone_waiter_and_the_note_stays_gone_until_forgotten(machine):
    noted_by_a_process_that_ends(machine, 'a1')
    assert machine.free_waiter('a1') and not machine.free_waiter('a1')
    assert [(waiter.ticket_id, waiter.freed) for waiter in machine.gone_waiters()] == [('a1', True)]
    machine.forget_waiter('a1')
    assert machine.gone_waiters() == []


def test_a_forgotten_note_leaves_no_file(machine, tmp_path):
    machine.note_waiter('a1')
    machine.forget_waiter('a1')
    assert os.listdir(str(tmp_path / 'cache.waiters')) == []


# -- the queue ---------------------------------------------------------------------

def killed_waiter(server, cache, wanted=1, ticket_id=KILLED, noted_ago=0.0):
    """A ticket ahead of every claimer of the test whose waiter, on ``cache``'s machine, was killed."""
    ref = earlier_waiter(server, 'aws', wanted, ticket_id=ticket_id)
    cache.machine.waiters[ticket_id] = dict(alive=True, noted_at=server.clock() - noted_ago, freed=False)
    cache.machine.kill_waiter(ticket_id)
    return ref


def fair_claim(clock, holder='alice', **params):
    return Claim(Request('aws', holder, True), dict(params, fair=True), clock=clock)


def test_a_fair_claim_on_the_machine_of_a_killed_waiter_takes_the_lock_it_was_waiting_for(cache, server, clock):
    for name in ('env-2', 'env-3'):
        claimed_by(server, 'bob', name)
    killed_waiter(server, cache)
    outcome = transaction.run(cache, fair_claim(clock), clock=clock)
    assert outcome.commit == server.head and outcome.waited == 0


def test_the_claim_deletes_the_killed_waiters_ticket_for_every_machine(cache, server, clock):
    killed_waiter(server, cache)
    transaction.run(cache, fair_claim(clock, name='env-1'), clock=clock)
    assert queue_refs(server) == [] and cache.machine.waiters[KILLED]['freed']


def test_two_runs_of_the_machine_delete_a_killed_waiters_ticket_once(cache, server, clock):
    killed_waiter(server, cache)
    other = FakeRepoCache(server, machine=cache.machine)
    pushes = server.requests['push']
    assert FairWaiter(cache, 'aws', 1, clock=clock).wanted_ahead() == 0
    assert FairWaiter(other, 'aws', 1, clock=clock).wanted_ahead() == 0
    assert server.requests['push'] == pushes + 1


def test_a_killed_waiter_on_another_machine_keeps_its_place_until_its_ticket_expires(cache, server, clock):
    killed_waiter(server, FakeRepoCache(server))
    assert FairWaiter(cache, 'aws', 1, clock=clock).wanted_ahead() == 1


def test_a_machine_with_no_note_of_the_waiter_treats_its_ticket_as_live(cache, server, clock):
    earlier_waiter(server, 'aws', wanted=1, ticket_id=KILLED)
    assert FairWaiter(cache, 'aws', 1, clock=clock).wanted_ahead() == 1


def waiting(cache, clock):
    """A fair waiter that has pushed its ticket."""
    waiter = FairWaiter(cache, 'aws', 1, clock=clock)
    with cache.exclusive():
        cache.fetch()
    waiter.keep_place(cache.local_head())
    return waiter


def test_a_waiter_notes_itself_before_it_pushes_its_ticket(cache, server, clock):
    waiter = waiting(cache, clock)
    assert list(cache.machine.waiters) == [waiter.id] and queue_refs(server) == [waiter.ticket]
    methods = [name for name, _held in cache.calls]
    assert methods.index('note_waiter') < methods.index('push_refs')


def test_a_waiter_that_leaves_the_queue_forgets_its_note(cache, server, clock):
    waiting(cache, clock).leave()
    assert cache.machine.waiters == {} and queue_refs(server) == []


def test_a_waiter_that_cannot_delete_its_ticket_keeps_its_note_for_the_next_claimer_of_its_machine(cache, server, clock):
    waiter = waiting(cache, clock)
    server.refused_prefixes.append('refs/lockpool/')  # the server is gone, or refuses: the ticket stays
    waiter.leave()
    assert list(cache.machine.waiters) == [waiter.id] and len(queue_refs(server)) == 1


def test_a_waiter_whose_claim_deleted_its_ticket_forgets_its_note(cache, server, clock):
    waiter = waiting(cache, clock)
    waiter.departed()
    waiter.leave()
    assert cache.machine.waiters == {}


def test_a_waiter_whose_ticket_is_refused_forgets_its_note(cache, server, clock):
    server.refused_prefixes.append('refs/lockpool/')
    waiter = waiting(cache, clock)
    assert waiter.refused and cache.machine.waiters == {}


def test_the_note_of_a_killed_waiter_whose_ticket_is_gone_is_forgotten_once_no_ticket_of_it_can_live(cache, server, clock):
    cache.machine.waiters[KILLED] = dict(alive=False, noted_at=clock() - GONE_NOTE_LIFE - 1, freed=True)
    cache.machine.waiters['dead00000002'] = dict(alive=False, noted_at=clock() - GONE_NOTE_LIFE + 1, freed=False)
    FairWaiter(cache, 'aws', 1, clock=clock).wanted_ahead()
    assert sorted(cache.machine.waiters) == ['dead00000002']

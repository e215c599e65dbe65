"""The fair queue's tickets of dead waiters: a waiter's note beside the cache names its process, and the other fair
claimers of its machine free the ticket of a waiter whose process is gone, at their first look.

The queue runs on the in-memory git layer (a FakeMachine holds the notes); whether a process lives is asked of this
machine for real (/proc), of processes the tests start and end. The notes themselves are tested on their real files
(MachineCoordination, in tmp_path).
"""

import json
import os
import subprocess

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import ControllerProcess
from ansible_collections.lockpool.git.plugins.module_utils._machine import MachineCoordination
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Request
from ansible_collections.lockpool.git.plugins.module_utils._queue import QUEUE_VIEW_MAX_AGE, TICKET_LIFE, FairWaiter
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FakeRepoCache
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, queue_refs, released_by


@pytest.fixture(scope='module')
def dead_process():
    """A process that ran and is gone (reaped): what a SIGKILLed waiter is to its machine."""
    process = subprocess.Popen(['sleep', '60'])
    gone = ControllerProcess.of(process.pid)
    process.kill()
    process.wait()
    assert gone.started is not None and not gone.alive()
    return gone


def this_process():
    return ControllerProcess.of(os.getpid())


def neighbour(cache):
    """Another run on the cache's machine (it shares the cache, its views and the waiters' notes)."""
    return FakeRepoCache(cache.server, machine=cache.machine)


def waiting(cache, clock, process, wanted=1, pool='aws'):
    """A fair waiter of ``process`` that has pushed its ticket; the clock then moves on a second (it arrived first)."""
    waiter = FairWaiter(cache, pool, wanted, clock=clock, process=process)
    with cache.exclusive():
        cache.fetch()
    waiter.keep_place(cache.local_head())
    assert waiter.ticket in queue_refs(cache.server)
    clock.advance(1)
    return waiter


def test_a_waiter_notes_its_process_and_ticket_beside_the_cache_before_it_pushes_the_ticket(cache, clock):
    waiter = FairWaiter(cache, 'aws', 1, clock=clock)
    with cache.exclusive():
        cache.fetch()
    waiter.keep_place(cache.local_head())
    names = [name for name, _held in cache.calls]
    assert names.index('register_waiter') < names.index('push_refs')
    assert cache.machine.waiters == {waiter.id: dict(pid=os.getpid(), started=this_process().started, ref=waiter.ticket)}


def test_the_ticket_of_a_dead_waiter_of_the_machine_counts_for_nothing_and_is_deleted_at_the_first_look(cache, clock, dead_process):
    dead = waiting(cache, clock, dead_process)
    alive = FairWaiter(neighbour(cache), 'aws', 1, clock=clock)
    assert alive.wanted_ahead() == 0
    assert queue_refs(cache.server) == []
    assert cache.machine.waiters[dead.id]['freed_at'] == clock()


def test_the_ticket_of_a_live_waiter_of_the_machine_is_kept(cache, clock):
    live = waiting(cache, clock, this_process())
    other = FairWaiter(neighbour(cache), 'aws', 1, clock=clock)
    assert other.wanted_ahead() == 1
    assert queue_refs(cache.server) == [live.ticket] and 'freed_at' not in cache.machine.waiters[live.id]


def test_a_pid_now_used_by_another_process_is_a_dead_waiter(cache, clock):
    reused = ControllerProcess(os.getpid(), this_process().started - 1)  # our pid, but a process that started earlier
    waiting(cache, clock, reused)
    assert FairWaiter(neighbour(cache), 'aws', 1, clock=clock).wanted_ahead() == 0
    assert queue_refs(cache.server) == []


def test_the_dead_waiter_of_another_machine_keeps_its_place_until_its_ticket_expires(cache, server, clock, dead_process):
    dead = waiting(cache, clock, dead_process)
    elsewhere = FairWaiter(FakeRepoCache(server), 'aws', 1, clock=clock)
    assert elsewhere.wanted_ahead() == 1 and queue_refs(server) == [dead.ticket]
    clock.advance(TICKET_LIFE)
    assert elsewhere.wanted_ahead() == 0


def test_the_waiters_of_the_machine_delete_a_dead_ticket_once_and_all_leave_it_out_of_the_view_that_still_shows_it(
        cache, server, clock, dead_process):
    waiting(cache, clock, dead_process)
    first, second = FairWaiter(neighbour(cache), 'aws', 1, clock=clock), FairWaiter(neighbour(cache), 'aws', 1, clock=clock)
    first.view_age = second.view_age = QUEUE_VIEW_MAX_AGE
    assert first.wanted_ahead() == 0
    pushes = server.requests['push']
    clock.advance(QUEUE_VIEW_MAX_AGE / 2)
    assert second.wanted_ahead() == 0  # the machine's view, read before the deletion, still shows the ticket
    assert server.requests['push'] == pushes


def test_a_dead_waiters_note_is_forgotten_once_no_view_can_show_its_ticket(cache, server, clock, dead_process):
    waiting(cache, clock, dead_process)
    live = waiting(neighbour(cache), clock, this_process())
    other = FairWaiter(neighbour(cache), 'aws', 1, clock=clock)
    other.wanted_ahead()
    clock.advance(QUEUE_VIEW_MAX_AGE)
    assert other.wanted_ahead() == 1  # the live waiter's
    assert list(cache.machine.waiters) == [live.id]


def test_a_dead_waiters_ticket_that_reappears_is_deleted_again(cache, server, clock, dead_process):
    dead = waiting(cache, clock, dead_process)
    other = FairWaiter(neighbour(cache), 'aws', 1, clock=clock)
    other.wanted_ahead()
    server.refs[dead.ticket] = server.head  # the killed waiter's renewal, pushed by its git child, landed late
    clock.advance(QUEUE_VIEW_MAX_AGE)
    assert other.wanted_ahead() == 0 and queue_refs(server) == []


def test_a_waiter_forgets_its_note_when_its_claim_deletes_its_ticket(cache, clock):
    waiter = waiting(cache, clock, this_process())
    waiter.departed()
    assert cache.machine.waiters == {}


def test_a_waiter_that_leaves_forgets_its_note(cache, clock):
    waiter = waiting(cache, clock, this_process())
    waiter.leave()
    assert cache.machine.waiters == {} and queue_refs(cache.server) == []


def test_a_waiter_that_could_not_delete_its_ticket_keeps_its_note_for_the_machine_to_free_it_once_it_is_gone(cache, server, clock):
    waiter = waiting(cache, clock, this_process())
    server.refused_prefixes.append('refs/lockpool/queue/')
    waiter.leave()
    assert list(cache.machine.waiters) == [waiter.id] and len(queue_refs(server)) == 1


def test_a_fair_claim_behind_a_dead_waiter_of_its_machine_takes_the_lock_freed_for_it_at_once(cache, server, clock, dead_process):
    claimed_by(server, 'bob', 'env-1')
    waiting(cache, clock, dead_process)
    clock.call_after(3, lambda: released_by(server, 'bob', 'env-1'))
    request = Request('aws', 'alice', True)
    outcome = transaction.run(neighbour(cache), Claim(request, dict(name='env-1', fair=True), clock=clock), poll_interval=10, clock=clock)
    assert outcome.commit == server.head and outcome.waited < QUEUE_VIEW_MAX_AGE  # the next look after the release
    assert queue_refs(server) == []


# -- the notes, on their files -------------------------------------------------------

@pytest.fixture
def machine(tmp_path):
    return MachineCoordination(str(tmp_path / 'cache.git'), 'main')


def test_a_note_is_read_back_by_every_run_of_the_machine_until_it_is_forgotten(machine, tmp_path):
    assert machine.register_waiter('0123abcd', dict(pid=42, started=7, ref='refs/lockpool/queue/main/aws/1-0123abcd-1-9'))
    assert MachineCoordination(str(tmp_path / 'cache.git'), 'other').local_waiters() == {
        '0123abcd': dict(pid=42, started=7, ref='refs/lockpool/queue/main/aws/1-0123abcd-1-9')}
    machine.forget_waiter('0123abcd')
    machine.forget_waiter('0123abcd')
    assert machine.local_waiters() == {}


def test_a_note_written_where_this_run_cannot_see_the_process_is_left_out(machine, tmp_path):
    machine.register_waiter('0123abcd', dict(pid=42, started=7, ref='x'))
    notes = tmp_path / 'cache.waiters'
    (notes / 'feedbeef').write_text(json.dumps(dict(pid=42, started=7, ref='x', processes='another-host boot pid:[1]')))
    (notes / '0123abcd.4711').write_text('{')  # what a run killed while it wrote leaves
    assert list(machine.local_waiters()) == ['0123abcd']


def test_a_note_key_cannot_name_another_file(machine):
    with pytest.raises(ValueError):
        machine.register_waiter('../x', {})

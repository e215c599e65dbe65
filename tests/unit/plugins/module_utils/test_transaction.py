"""The transaction loop: fetch -> decide -> commit -> push, on fresh state until it lands; races, waits, deadlines, damage.

On the in-memory git layer and a fake clock: a wait lets fake time pass to what is scheduled on the clock (another
writer's release), so no test sleeps. The pools: lock_repos.POOLS.
"""

import re

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, LockTimeoutError, NotHolderError
from ansible_collections.lockpool.git.plugins.module_utils._operations import Absent, Claim, Release, Request
from ansible_collections.lockpool.git.plugins.module_utils._queue import RECHECK_EVERY
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import race_backoff
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import NETWORK, Commit, FakeRepoCache
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, earlier_waiter, our_message, pool_state, queue_refs, released_by

CHANGE, NOTHING, WAIT = transaction.CHANGE, transaction.NOTHING, transaction.WAIT


@pytest.fixture(autouse=True)
def pauses(monkeypatch, clock):
    """The attempts race_backoff was called after. run() cannot be given the backoff's sleep, so the real backoff is
    put in its place with its sleep on the fake clock."""
    made = []

    def backoff(attempt):
        made.append(attempt)
        race_backoff(attempt, sleep=clock.advance)
    monkeypatch.setattr(transaction, 'race_backoff', backoff)
    return made


class Recorder(transaction.Observer):
    def __init__(self):
        self.events = []

    def reached(self, phase):
        self.events.append(phase)

    def race_lost(self):
        self.events.append('race lost')

    def waiting_started(self, decision):
        self.events.append('waiting: %s' % decision.reason)

    def waiting_ended(self):
        self.events.append('waiting ended')


class Watched(object):
    """``operation``, with what was true each time the loop called it: (method, cache lock held, git-layer calls it made)."""

    def __init__(self, operation, cache):
        self.operation = operation
        self.cache = cache
        self.seen = []

    def _watch(self, method, *args):
        before, held = len(self.cache.calls), self.cache.machine.held
        result = getattr(self.operation, method)(*args)
        self.seen.append((method, held, [name for name, _held in self.cache.calls[before:]]))
        return result

    def look_outside(self, cache):
        return self._watch('look_outside', cache)

    def decide(self, snapshot, outside):
        return self._watch('decide', snapshot, outside)

    def before_wait(self, head):
        return self._watch('before_wait', head)

    def push_also(self):
        return self._watch('push_also')


def claim(clock, holder='alice', fair=False, **params):
    return Claim(Request('aws', holder, True), dict(params, fair=fair), clock=clock)


def run(cache, operation, **options):
    return transaction.run(cache, operation, clock=cache.clock, **options)


def warm(cache):
    """The cache as a run left it: the branch fetched; its calls forgotten."""
    with cache.exclusive():
        cache.fetch()
    del cache.calls[:]


def holder_of_last_commit(server):
    return re.search('^Lock-Holder: (.*)$', server.message(), re.MULTILINE).group(1)


# -- landing ---------------------------------------------------------------------------

def test_a_change_lands_on_the_first_attempt_after_one_fetch_on_a_cold_cache(cache, server, clock):
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and outcome.decision.kind == CHANGE and outcome.races == 0
    assert (cache.count('fetch'), cache.count('push')) == (1, 1)


def test_a_change_lands_without_a_fetch_from_a_warm_cache(cache, server, clock):
    warm(cache)
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and cache.count('fetch') == 0


def test_the_change_pushed_was_decided_on_the_commit_it_is_pushed_on(cache, server, clock):
    outcome = run(cache, claim(clock, name='env-1'))
    assert server.objects.get(outcome.commit, Commit).parent == outcome.snapshot.head


def test_a_change_decided_on_a_stale_cache_is_decided_again_on_fetched_state_without_counting_a_race(cache, server, clock, pauses):
    warm(cache)
    claimed_by(server, 'bob', 'env-2')
    observer = Recorder()
    outcome = run(cache, claim(clock, name='env-1'), observer=observer)
    assert outcome.commit == server.head and outcome.races == 0 and pauses == [] and 'race lost' not in observer.events
    assert (cache.count('push'), cache.count('fetch')) == (2, 1)
    assert pool_state(server, 'aws')['claimed'] == ['env-1', 'env-2']


def test_a_lost_race_is_retried_on_fresh_state_and_counted(cache, server, clock, pauses):
    server.lose_next_push()
    observer = Recorder()
    outcome = run(cache, claim(clock, name='env-1'), observer=observer)
    assert outcome.commit == server.head and outcome.races == 1 and observer.events.count('race lost') == 1 and pauses == [1]
    assert cache.count('fetch') == 2
    assert server.log()[1] == 'another writer was faster\n'  # ours is on top of the winner's


def test_the_attempt_after_a_lost_race_is_decided_on_fetched_state(cache, server, clock):
    server.lose_next_push()
    run(cache, claim(clock, name='env-1'))
    assert (cache.count('fetch'), cache.count('push')) == (2, 2)


def test_each_lost_race_is_counted_and_paused_after_until_the_push_lands(cache, server, clock, pauses):
    server.lose_next_push(times=3)
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and outcome.races == 3 and pauses == [1, 2, 3]


def test_a_race_lost_to_a_claim_of_the_same_lock_turns_into_a_wait(cache, server, clock):
    server.before_next_push(lambda: claimed_by(server, 'bob', 'env-1'))
    outcome = run(cache, claim(clock, name='env-1'), wait_for_lock=False)
    assert outcome.decision.kind == WAIT and outcome.commit is None and outcome.races == 1
    assert holder_of_last_commit(server) == 'bob'


def test_a_wait_decided_on_the_cached_state_is_decided_again_on_fetched_state(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    warm(cache)
    released_by(server, 'bob', 'env-1')
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and cache.count('fetch') == 1 and cache.count('wait_for_change') == 0


def test_nothing_to_do_on_the_cached_state_is_decided_again_on_fetched_state(cache, server):
    warm(cache)
    server.commit({'aws/unclaimed/env-9': b''}, 'adding unclaimed: env-9\n')
    outcome = run(cache, Absent(Request('aws', 'alice', True), dict(name='env-9')))
    assert outcome.decision.kind == CHANGE and outcome.commit == server.head and 'env-9' not in pool_state(server, 'aws')['unclaimed']


def test_nothing_to_do_on_fetched_state_ends_the_run(cache, server):
    head = server.head
    outcome = run(cache, Release(Request('aws', 'alice', True), dict(name='env-1')))
    assert outcome.decision.kind == NOTHING and outcome.commit is None and server.head == head and cache.count('fetch') == 1


def test_a_release_refused_on_a_stale_cache_is_decided_again_on_the_servers_state(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    warm(cache)
    released_by(server, 'bob', 'env-1')
    claimed_by(server, 'alice', 'env-1')  # claimed on another machine: this cache still says bob
    outcome = run(cache, Release(Request('aws', 'alice', True), dict(name='env-1')))
    assert outcome.commit == server.head and 'env-1' in pool_state(server, 'aws')['unclaimed']
    assert cache.count('fetch') == 1


def test_a_lock_missing_from_a_stale_cache_is_looked_for_on_the_servers_state(cache, server, clock):
    warm(cache)
    server.commit({'aws/claimed/env-9': b''}, our_message('claiming: env-9', 'alice', 'aws'))
    outcome = run(cache, Release(Request('aws', 'alice', True), dict(name='env-9')))
    assert outcome.commit == server.head and 'env-9' in pool_state(server, 'aws')['unclaimed']


def test_a_refusal_on_the_servers_state_stands(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    warm(cache)
    with pytest.raises(NotHolderError, match='bob'):
        run(cache, Release(Request('aws', 'alice', True), dict(name='env-1')))
    assert cache.count('fetch') == 1


# -- waiting ---------------------------------------------------------------------------

def test_a_wait_ends_when_the_branch_moves_and_the_operation_is_decided_again(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    clock.call_after(25, lambda: released_by(server, 'bob', 'env-1'))
    observer = Recorder()
    outcome = run(cache, claim(clock, name='env-1'), poll_interval=10, observer=observer)
    assert outcome.commit == server.head and holder_of_last_commit(server) == 'alice'
    assert outcome.waited == 30  # the server is asked every 10 s: the release at 25 s is seen at 30 s
    assert server.requests['ls-remote'] == 3 and server.requests['fetch'] == 2  # the second: the release, fetched when seen
    assert observer.events[:2] == ["waiting: lock 'env-1' in pool 'aws' is claimed by bob", 'waiting ended']


def test_a_push_from_this_machine_wakes_a_waiter_there_which_claims_without_asking_the_server(cache, server, clock):
    other = FakeRepoCache(server, machine=cache.machine)
    run(other, claim(clock, 'alice', name='env-1'))
    clock.call_after(3, lambda: run(other, Release(Request('aws', 'alice', True), dict(name='env-1'))))
    outcome = run(cache, claim(clock, 'bob', name='env-1'), poll_interval=10)
    assert outcome.commit == server.head and holder_of_last_commit(server) == 'bob' and outcome.waited == 3
    assert cache.count('fetch') == 1 and cache.count('look') == 0


def test_without_wait_for_lock_the_wait_is_returned(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    outcome = run(cache, claim(clock, name='env-1'), wait_for_lock=False)
    assert outcome.decision.kind == WAIT and outcome.decision.reason == "lock 'env-1' in pool 'aws' is claimed by bob"
    assert outcome.commit is None and outcome.waited == 0 and cache.count('wait_for_change') == 0


def test_waiting_past_the_timeout_fails_saying_what_it_waited_for(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    started = clock()
    with pytest.raises(LockTimeoutError, match="^gave up after 25s: lock 'env-1' in pool 'aws' is claimed by bob$"):
        run(cache, claim(clock, name='env-1'), timeout=25, poll_interval=10)
    assert clock() == started + 25 and cache.count('fetch') == 1  # nothing fetched once the time is up


def test_the_observer_hears_the_end_of_a_wait_the_timeout_ended(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    observer = Recorder()
    with pytest.raises(LockTimeoutError):
        run(cache, claim(clock, name='env-1'), timeout=25, observer=observer)
    assert observer.events == ["waiting: lock 'env-1' in pool 'aws' is claimed by bob", 'waiting ended']


def test_a_push_that_keeps_losing_races_fails_at_the_timeout(cache, server, clock, pauses):
    server.lose_every_push()
    with pytest.raises(LockTimeoutError, match=r'^gave up after 5s: the push kept losing races \(\d+ lost\)$') as failed:
        run(cache, claim(clock, name='env-1'), timeout=5)
    lost = int(re.search(r'\((\d+) lost\)', str(failed.value)).group(1))
    assert pauses == list(range(1, lost))  # a pause after each lost race but the last


def test_the_run_gives_the_cache_its_deadline(cache, clock):
    started = clock()
    run(cache, claim(clock, name='env-1'), timeout=30)
    assert cache.deadline == started + 30


# -- the fair queue in the loop --------------------------------------------------------

def test_a_fair_claim_behind_an_earlier_waiter_decides_again_every_recheck_and_claims_once_that_ticket_is_gone(cache, server, clock):
    ticket = earlier_waiter(server, 'aws', wanted=3)
    clock.call_after(7, lambda: server.refs.pop(ticket))
    head = server.head
    outcome = run(cache, claim(clock, name='env-1', fair=True), poll_interval=10)
    assert outcome.commit == server.head and outcome.snapshot.head == head  # the branch never moved meanwhile
    assert outcome.waited == 2 * RECHECK_EVERY


def test_a_fair_claim_that_waited_keeps_its_place_with_a_ticket_and_deletes_it_with_its_claim(cache, server, clock):
    ticket = earlier_waiter(server, 'aws', wanted=3)
    clock.call_after(7, lambda: server.refs.pop(ticket))
    seen = []
    clock.call_after(3, lambda: seen.extend(queue_refs(server)))
    run(cache, claim(clock, name='env-1', fair=True), poll_interval=10)
    assert len(seen) == 2 and ticket in seen
    assert queue_refs(server) == []
    assert cache.count('push_refs') == 1  # the ticket is deleted by the push of the claim, atomically


def test_a_server_that_refuses_the_queue_makes_the_claim_unfair_not_failed(cache, server, clock):
    earlier_waiter(server, 'aws', wanted=3)
    server.refused_prefixes.append('refs/lockpool/')
    operation = claim(clock, name='env-1', fair=True)
    outcome = run(cache, operation, poll_interval=10)
    assert outcome.commit == server.head
    assert 'refused the fair-queue ticket' in operation.warnings()[0]


# -- check mode ------------------------------------------------------------------------

def test_check_mode_decides_on_fetched_state_and_pushes_nothing(cache, server, clock):
    warm(cache)
    head = server.head
    outcome = run(cache, claim(clock, name='env-1'), check_mode=True)
    assert outcome.decision.kind == CHANGE and outcome.commit is None and server.head == head
    assert cache.count('fetch') == 1 and cache.count('push') == 0 and cache.count('write_commit') == 0


def test_check_mode_never_waits(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    outcome = run(cache, claim(clock, name='env-1'), check_mode=True)
    assert outcome.decision.kind == WAIT and cache.count('wait_for_change') == 0


# -- a damaged cache -------------------------------------------------------------------

def test_a_cache_damaged_when_fetching_is_rebuilt_once_and_the_attempt_repeated(cache, server, clock):
    cache.damage('fetch')
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and cache.rebuilds == 1 and cache.count('fetch') == 2


def test_a_cache_damaged_when_deciding_is_rebuilt_fetched_and_decided_again(cache, server, clock):
    warm(cache)
    cache.damage('tree_entries')
    outcome = run(cache, claim(clock, name='env-1'))
    assert outcome.commit == server.head and cache.rebuilds == 1 and cache.count('fetch') == 1


def test_a_cache_still_damaged_after_its_rebuild_fails_the_run(cache, clock):
    cache.damage('fetch', times=2)
    with pytest.raises(CacheDamagedError):
        run(cache, claim(clock, name='env-1'))
    assert cache.rebuilds == 1


def test_damage_a_waiter_meets_outside_the_lock_is_repaired_under_it(cache, server, clock):
    other = FakeRepoCache(server, machine=cache.machine)
    run(other, claim(clock, 'alice', name='env-1'))

    def release_and_damage():
        run(other, Release(Request('aws', 'alice', True), dict(name='env-1')))
        cache.damage('tree_entries', times=2)  # the waiter's look at its cache, then the decision under the lock
    clock.call_after(3, release_and_damage)
    outcome = run(cache, claim(clock, 'bob', name='env-1'), poll_interval=10)
    assert outcome.commit == server.head and cache.rebuilds == 1
    assert ('rebuild', True) in cache.calls


# -- what runs where -------------------------------------------------------------------

@pytest.fixture
def eventful(cache, server, clock):
    """A fair claim with a lease that waits for bob's lease-holding claim, then loses a race on the cache's state and
    one on fetched state, then lands."""
    claimed_by(server, 'bob', 'env-1', token=1, lease_until=clock() + 600)
    clock.call_after(12, lambda: released_by(server, 'bob', 'env-1'))
    server.before_next_push(lambda: claimed_by(server, 'carol', 'env-2'))
    server.lose_next_push()
    operation = Watched(claim(clock, name='env-1', fair=True, lease='1h'), cache)
    outcome = run(cache, operation, poll_interval=10)
    assert outcome.commit == server.head and outcome.races == 1 and outcome.waited > 0
    return operation


def test_look_outside_and_before_wait_are_called_outside_the_cache_lock(eventful, cache):
    outside = [(method, held) for method, held, _calls in eventful.seen if method in ('look_outside', 'before_wait')]
    assert outside and not any(held for _method, held in outside)
    assert 'remote_refs' not in cache.called_while_held() and 'push_refs' not in cache.called_while_held()


def test_decide_never_calls_the_network_nor_takes_the_lock(eventful):
    decisions = [calls for method, _held, calls in eventful.seen if method == 'decide']
    assert len(decisions) > 3
    assert not [name for calls in decisions for name in calls if name in NETWORK + ('exclusive', 'wait_for_change')]


def test_the_cache_is_never_waited_on_with_its_lock_held(eventful, cache):
    assert cache.count('wait_for_change') > 0 and 'wait_for_change' not in cache.called_while_held()


def test_the_observer_sees_commit_and_push_in_order(cache, clock):
    observer = Recorder()
    run(cache, claim(clock, name='env-1'), observer=observer)
    assert observer.events == ['before-commit', 'after-commit', 'after-push']


def test_the_observer_sees_each_attempt_of_a_lost_race(cache, server, clock):
    server.lose_next_push()
    observer = Recorder()
    run(cache, claim(clock, name='env-1'), observer=observer)
    assert observer.events[:3] == ['before-commit', 'after-commit', 'race lost']
    assert observer.events[3:][-3:] == ['before-commit', 'after-commit', 'after-push'] and observer.events.count('race lost') == 1

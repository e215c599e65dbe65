# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lock transaction: fetch -> decide -> commit -> push, retried on a lost race.

An operation (see _operations) decides on the branch as it is now (a Snapshot)
and what it read outside the branch before the cache lock (the fair queue), and
returns a Decision: nothing to do, a change to push, or wait until the branch
moves. The loop here runs it on fresh state until the change lands, so a
decision is never pushed on top of state it did not see. A push either lands
whole or not at all, so a failed run leaves the remote exactly as it was. A
cache that git finds damaged is rebuilt and the attempt made once more.

What the loop asks of an operation: ``look_outside(cache)`` before each decision,
outside the cache lock, for what it needs from outside the branch;
``decide(snapshot, outside)`` and ``push_also()`` (refs outside the branch that
land atomically with a change) under the lock; ``before_wait(head)`` before each
wait and each time a wait goes on, outside the lock (the fair queue pushes its
ticket there, not in the way of the next push), returning how often (seconds) to
ask the server in that wait when sooner than the poll interval, or None;
``refs_refused(decision)`` when the server refused a change of refs outside the
branch only (the operation then decides again, another way).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, LockpoolError, LockTimeoutError
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import UNBOUND
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import race_backoff
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot

NOTHING = 'nothing'
CHANGE = 'change'
WAIT = 'wait'


class Decision(namedtuple('Decision', 'kind locks edits message author reason before after recheck_after found refs')):
    """What an operation wants done on the state it saw.

    ``locks`` are the LockFiles the result is about (a tuple, maybe empty); ``before``/``after``
    describe them for diff mode; ``reason`` says what a WAIT waits for; ``recheck_after``
    (seconds) makes a WAIT decide again that soon even if the branch has not moved, for a
    wait on something outside the branch (the fair queue); ``found`` is what the operation
    found that its result reports (a reap's stale claims), opaque to the loop. A CHANGE
    with no ``message`` changes only ``refs`` (refspecs of refs outside the branch, such
    as a lease's renewal): no commit, nothing for other claimers to race with.
    """

    __slots__ = ()


def nothing(locks, before=None, found=None):
    return Decision(NOTHING, tuple(locks), (), None, None, None, before, before, None, found, ())


def change(locks, edits, message, author, before, after, found=None):
    return Decision(CHANGE, tuple(locks), tuple(edits), message, author, None, before, after, None, found, ())


def change_refs(locks, refs, before, after):
    """A change of refs outside the branch only: they land together, or the server refuses them."""
    return Decision(CHANGE, tuple(locks), (), None, None, None, before, after, None, None, tuple(refs))


def wait(locks, reason, before=None, recheck_after=None):
    return Decision(WAIT, tuple(locks), (), None, None, reason, before, before, recheck_after, None, ())


class Observer(object):
    """Told what a run goes through (metrics hook in here); this base class ignores it all.

    run() calls ``race_lost()`` after each lost push race, brackets each wait for the
    branch to move with ``waiting_started(decision)`` and ``waiting_ended()`` (also when
    the wait is interrupted), and calls ``reached(phase)`` at 'before-commit',
    'after-commit' and 'after-push' (a test parks a run there to kill it).
    _operations.execute calls ``finished(decision, snapshot)`` with the state the run
    left the branch in.
    """

    def reached(self, phase):
        pass

    def race_lost(self):
        pass

    def waiting_started(self, decision):
        pass

    def waiting_ended(self):
        pass

    def finished(self, decision, snapshot):
        pass


Outcome = namedtuple('Outcome', 'decision snapshot commit races waited')


def run(cache, operation, check_mode=False, wait_for_lock=True, timeout=0, poll_interval=10.0,
        clock=time.monotonic, observer=None, lifetime=UNBOUND):
    """Run ``operation`` on fresh state until its change is pushed, nothing is to be done, or time runs out.

    ``timeout`` (seconds, 0 = no limit) bounds waiting, race retries and every git command.
    ``lifetime`` (_lifetime.Lifetime) is looked at before each attempt and all through each wait:
    once the task must stop, TaskStoppedError ends the run (never in the middle of a push).
    Returns an Outcome whose ``commit`` is the pushed sha (None when nothing was pushed, or only
    refs outside the branch) and whose ``snapshot`` is the state the decision was made on.

    A decision is first made on the state the cache holds, without asking the server: a
    change is pushed at once (a push lands only on the head it was built on, so a change
    that lands was decided on the server's state), and a wait stands when a push from this
    machine has just woken us (the cache holds that push). Any other decision is made again
    on freshly fetched state, and so is a refusal (the operation raised: not the holder, no such
    lock): a refusal is only ever said of the server's state.
    """
    observer = observer or Observer()
    deadline = Deadline(timeout, clock)
    cache.deadline = deadline.at
    races, waited, use_cache, woken_locally = 0, 0.0, not check_mode, False
    while True:
        lifetime.check()
        attempt = _attempt(cache, operation, check_mode, use_cache, observer)
        decision = attempt.decision
        if decision is None:  # refused on the cache's state
            use_cache = False
            continue
        if attempt.landed:
            observer.reached('after-push')
            return Outcome(decision, attempt.snapshot, attempt.pushed, races, waited)
        if attempt.from_cache and not (decision.kind == WAIT and woken_locally):
            use_cache = False
        elif decision.kind == CHANGE and decision.message is None and not check_mode:
            operation.refs_refused(decision)  # the operation decides again, on the branch this time
        elif decision.kind == CHANGE and not check_mode:
            races += 1
            observer.race_lost()
            deadline.check('the push kept losing races (%d lost)' % races)
            race_backoff(races)
            use_cache = False  # the race proved the cache's state stale
        elif decision.kind == WAIT and wait_for_lock and not check_mode:
            woken_locally, spent = _wait(cache, operation, attempt, poll_interval, deadline, observer, lifetime)
            use_cache = woken_locally
            waited += spent
        else:
            return Outcome(decision, attempt.snapshot, None, races, waited)


class Deadline(object):
    """When a run must end: ``timeout`` seconds after it started (0: never), on ``clock``."""

    def __init__(self, timeout, clock):
        self.timeout = timeout
        self.clock = clock
        self.at = clock() + timeout if timeout else None

    def check(self, reason):
        if self.at is not None and self.clock() >= self.at:
            raise LockTimeoutError('gave up after %gs: %s' % (self.timeout, reason))

    def wake_up_at(self, decision):
        """When a wait ends even if the branch does not move: the deadline, or sooner for a ``recheck_after``."""
        if decision.recheck_after is None:
            return self.at
        recheck_at = self.clock() + decision.recheck_after
        return recheck_at if self.at is None else min(self.at, recheck_at)


def _wait(cache, operation, attempt, poll_interval, deadline, observer, lifetime):
    """Wait for news after ``attempt`` decided to wait; (True when the cache holds the news, seconds waited)."""
    decision = attempt.decision
    deadline.check(decision.reason)
    started = deadline.clock()
    observer.waiting_started(decision)
    try:
        woken_locally = _wait_for_news(cache, operation, decision, attempt.snapshot.head, attempt.announced, poll_interval,
                                       deadline, lifetime)
    finally:
        observer.waiting_ended()
    spent = deadline.clock() - started
    deadline.check(decision.reason)
    return woken_locally, spent


# One try at the transaction: what was decided, on which state, whether its change landed and the commit pushed.
Attempt = namedtuple('Attempt', 'snapshot decision landed pushed from_cache announced')


def _attempt(cache, operation, check_mode, use_cache, observer):
    """Decide and push: on the state the cache holds (``use_cache``), else on freshly fetched state.

    The fetch comes first, under the cache lock; then what the operation needs from outside the branch is
    read, outside the lock; then the decision and its push, under the lock, on the cache's state. A cache
    that git finds damaged is rebuilt and fetched, and the decision made once more. ``announced`` is this
    machine's last change announcement, read under the lock so that a waiter cannot miss a push made between
    its decision and its wait.
    """
    from_cache = use_cache and cache.local_head() is not None
    if not from_cache:
        with cache.exclusive():
            _guarded(cache, lambda: None, fetch=True)
    outside = operation.look_outside(cache)
    with cache.exclusive():
        attempted = functools.partial(_decide_and_push, cache, operation, outside, check_mode, observer, from_cache)
        snapshot, decision, landed, pushed = _guarded(cache, attempted)
        return Attempt(snapshot, decision, landed, pushed, from_cache, cache.announced())


def _guarded(cache, action, fetch=False):
    """``action()``, after a fetch when ``fetch``; on a damaged cache, the cache rebuilt and fetched and
    ``action()`` once more. Caller holds the cache lock."""
    try:
        with cache.damage_guard():
            if fetch:
                cache.fetch()
            return action()
    except CacheDamagedError:
        cache.rebuild()
        with cache.damage_guard():
            cache.fetch()
            return action()


def _decide_and_push(cache, operation, outside, check_mode, observer, from_cache=False):
    """Decide on the cache's state and push a change. Returns (snapshot, decision, landed, pushed sha or None).

    The decision is None when the operation refused on state taken from the cache (``from_cache``), which
    may be older than the server's. A change of refs outside the branch is pushed only when decided on fetched state: unlike a commit, it would
    land on a branch that moved since the cache's state (a renewal of a claim released elsewhere).
    """
    snapshot = Snapshot(cache, cache.local_head())
    try:
        decision = operation.decide(snapshot, outside)
    except CacheDamagedError:
        raise  # rebuilt by _guarded
    except LockpoolError:
        if from_cache:
            return snapshot, None, False, None
        raise
    if decision.kind != CHANGE or check_mode:
        return snapshot, decision, False, None
    if decision.message is None:
        return snapshot, decision, not from_cache and cache.push_refs(decision.refs), None
    observer.reached('before-commit')
    sha = snapshot.write_commit(decision.edits, decision.message, decision.author)
    observer.reached('after-commit')
    landed = cache.push(sha, operation.push_also())
    return snapshot, decision, landed, sha if landed else None


def _wait_for_news(cache, operation, decision, known, announced, poll_interval, deadline, lifetime):
    """Wait until the operation may no longer say wait; True when the cache holds the state it said so on.

    The operation decides again in the cache, without its lock and without a fetch, whenever the cache holds news (a
    push from this machine, or the server's branch that a look showed had moved, fetched once for the machine) and
    whenever its ``recheck_after`` comes (what it waits for outside the branch: the fair queue, a lease running out),
    and waiting goes on while it still says wait: the many waiters one release wakes do not queue for the lock the
    next push needs, and a recheck asks the server nothing that the machine's view does not already hold.
    """
    while True:
        look_every = _look_every(poll_interval, operation, known)
        try:
            woken = cache.wait_for_change(known, look_every, deadline.wake_up_at(decision), announced, sleep=lifetime.sleep)
        except CacheDamagedError:
            return False  # its fetch met the damage: fetched again under the cache lock, where the cache is rebuilt
        if not woken and deadline.at is not None and deadline.clock() >= deadline.at:
            return False
        announced = cache.announced()
        outside = operation.look_outside(cache)
        try:
            with cache.damage_guard():
                known = cache.local_head()
                decision = operation.decide(Snapshot(cache, known), outside)
        except CacheDamagedError:
            return False  # decided again under the cache lock, where the cache is rebuilt
        except LockpoolError:
            return False  # a refusal is decided again on fetched state
        if decision.kind != WAIT:
            return True


def _look_every(poll_interval, operation, head):
    """Let the operation prepare a wait from ``head``; how often to ask the server in that wait."""
    sooner = operation.before_wait(head)
    return poll_interval if sooner is None else min(poll_interval, sooner)

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lock transaction: fetch -> decide -> commit -> push, retried on a lost race.

An operation is a ``decide`` function that looks at the branch as it is now (a
Snapshot) and returns a Decision: nothing to do, a change to push, or wait until
the branch moves. The loop here runs it on fresh state until the change lands,
so a decision is never pushed on top of state it did not see. A push either
lands whole or not at all, so a failed run leaves the remote exactly as it was.
A cache that git finds damaged is rebuilt and the attempt made once more.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import CacheDamagedError, LockTimeoutError
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import race_backoff

# Test hook, inert in production: a test sets this variable to a phase name to park a run there and kill it.
TEST_PAUSE_VARIABLE = 'LOCKPOOL_TEST_PAUSE_AT'
TEST_PAUSE_SECONDS = 60

NOTHING = 'nothing'
CHANGE = 'change'
WAIT = 'wait'


class Decision(namedtuple('Decision', 'kind lock edits message author reason before after recheck_after')):
    """What an operation wants done on the state it saw.

    ``lock`` is the LockFile the result is about; ``before``/``after`` describe it
    for diff mode; ``reason`` says what a WAIT waits for; ``recheck_after`` (seconds)
    makes a WAIT decide again that soon even if the branch has not moved, for a wait
    on something outside the branch (the fair queue).
    """

    __slots__ = ()


def nothing(lock, before=None, reason=None):
    return Decision(NOTHING, lock, (), None, None, reason, before, before, None)


def change(lock, edits, message, author, before, after):
    return Decision(CHANGE, lock, tuple(edits), message, author, None, before, after, None)


def wait(lock, reason, before=None, after=None, recheck_after=None):
    return Decision(WAIT, lock, (), None, None, reason, before, after, recheck_after)


class Observer(object):
    """Told what a run goes through (metrics hook in here); this base class ignores it all.

    run() calls ``race_lost()`` after each lost push race, and brackets each wait
    for the branch to move with ``waiting_started(decision)`` and
    ``waiting_ended()`` (also when the wait is interrupted). operations.execute
    calls ``finished(decision, snapshot)`` with the state the run left the branch in.
    """

    def race_lost(self):
        pass

    def waiting_started(self, decision):
        pass

    def waiting_ended(self):
        pass

    def finished(self, decision, snapshot):
        pass


Outcome = namedtuple('Outcome', 'decision snapshot commit races waited')


def run(cache, decide, check_mode=False, wait_for_lock=True, timeout=0, poll_interval=10.0,
        clock=time.monotonic, observer=None, before_wait=None, push_also=None):
    """Run ``decide`` on fresh state until its change is pushed, nothing is to be done, or time runs out.

    ``timeout`` (seconds, 0 = no limit) bounds waiting, race retries and every git command.
    ``before_wait(head)`` is called before each wait and each time a wait goes on, outside the
    cache lock (the fair queue pushes its ticket there, not in the way of the next push); it
    returns how often (seconds) to ask the server during that wait when sooner than ``poll_interval``, or None;
    ``push_also()`` says which refs outside the branch land atomically with a change. Returns
    an Outcome whose ``commit`` is the pushed sha (None when nothing was pushed)
    and whose ``snapshot`` is the state the decision was made on.

    A decision is first made on the state the cache holds, without asking the
    server: a change is pushed at once (a push lands only on the head it was built
    on, so a change that lands was decided on the server's state), and a wait
    stands when a push from this machine has just woken us (the cache holds that
    push). Any other decision is made again on freshly fetched state.
    """
    observer = observer or Observer()
    started = clock()
    deadline = started + timeout if timeout else None
    cache.deadline = deadline
    races = 0
    waited = 0.0
    use_cache = not check_mode
    woken_locally = False
    while True:
        attempt = _attempt(cache, decide, check_mode, use_cache, push_also)
        snapshot, decision = attempt.snapshot, attempt.decision
        if attempt.pushed:
            _pause_for_tests('after-push')
            return Outcome(decision, snapshot, attempt.pushed, races, waited)
        if attempt.from_cache and not (decision.kind == WAIT and woken_locally):
            use_cache = False
            continue
        if decision.kind == CHANGE and not check_mode:
            races += 1
            observer.race_lost()
            _check_deadline(deadline, clock, timeout, 'the push kept losing races (%d lost)' % races)
            race_backoff(races)
            continue
        if decision.kind == WAIT and wait_for_lock and not check_mode:
            _check_deadline(deadline, clock, timeout, decision.reason)
            wait_started = clock()
            observer.waiting_started(decision)
            try:
                woken_locally = use_cache = _wait_for_news(cache, decide, snapshot.head, attempt.announced, poll_interval,
                                                           _wake_up_at(deadline, decision, clock), before_wait)
            finally:
                observer.waiting_ended()
            waited += clock() - wait_started
            _check_deadline(deadline, clock, timeout, decision.reason)
            continue
        return Outcome(decision, snapshot, None, races, waited)


# One try at the transaction: what was decided, on which state, and what was pushed.
Attempt = namedtuple('Attempt', 'snapshot decision pushed from_cache announced')


def _attempt(cache, decide, check_mode, use_cache, push_also):
    """Under the cache lock, decide and push; on a damaged cache, rebuild it and try once more on fetched state.

    ``announced`` is this machine's last change announcement, read under the lock so
    that a waiter cannot miss a push made between its decision and its wait.
    """
    with cache.exclusive():
        try:
            snapshot, decision, pushed, from_cache = _decide_and_push(cache, decide, check_mode, use_cache, push_also)
        except CacheDamagedError:
            cache.rebuild()
            snapshot, decision, pushed, from_cache = _decide_and_push(cache, decide, check_mode, False, push_also)
        return Attempt(snapshot, decision, pushed, from_cache, cache.announced())


def _decide_and_push(cache, decide, check_mode, use_cache, push_also):
    """Decide on the cached state (``use_cache``) or on fetched state; push a change. Returns (snapshot, decision, sha, from_cache)."""
    with cache.damage_guard():
        cached_head = cache.local_head() if use_cache else None
        snapshot = Snapshot(cache, cached_head or cache.fetch())
        decision = decide(snapshot)
        if decision.kind != CHANGE or check_mode:
            return snapshot, decision, None, bool(cached_head)
        _pause_for_tests('before-commit')
        sha = snapshot.write_commit(decision.edits, decision.message, decision.author)
        _pause_for_tests('after-commit')
        return snapshot, decision, sha if cache.push(sha, push_also() if push_also else ()) else None, bool(cached_head)


def _wait_for_news(cache, decide, known, announced, poll_interval, deadline, before_wait):
    """Wait until the branch moves so that ``decide`` may no longer say wait; True when the cache holds that state.

    A push from this machine is looked at in the cache without taking its lock, and
    waiting goes on while ``decide`` still says wait there: the many waiters one
    release wakes do not queue for the lock the next push needs.
    """
    while cache.wait_for_change(known, _look_every(poll_interval, before_wait, known), deadline, announced):
        announced = cache.announced()
        try:
            with cache.damage_guard():
                known = cache.local_head()
                if decide(Snapshot(cache, known)).kind != WAIT:
                    return True
        except CacheDamagedError:
            return False  # decided again under the cache lock, where the cache is rebuilt
    return False


def _look_every(poll_interval, before_wait, head):
    """Run ``before_wait`` (when given) for a wait from ``head``; how often to ask the server in that wait."""
    sooner = before_wait(head) if before_wait is not None else None
    return poll_interval if sooner is None else min(poll_interval, sooner)


def _pause_for_tests(phase):
    """Park here for a while when the test hook names ``phase``, telling the test on stderr; else do nothing."""
    if os.environ.get(TEST_PAUSE_VARIABLE) == phase:
        os.write(2, ('lockpool: paused at %s\n' % phase).encode('ascii'))
        time.sleep(TEST_PAUSE_SECONDS)


def _wake_up_at(deadline, decision, clock):
    """When a wait ends even if the branch does not move: the deadline, or sooner for a ``recheck_after``."""
    if decision.recheck_after is None:
        return deadline
    recheck_at = clock() + decision.recheck_after
    return recheck_at if deadline is None else min(deadline, recheck_at)


def _check_deadline(deadline, clock, timeout, reason):
    if deadline is not None and clock() >= deadline:
        raise LockTimeoutError('gave up after %gs: %s' % (timeout, reason))

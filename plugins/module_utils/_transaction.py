# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lock transaction: fetch -> decide -> commit -> push, retried on a lost race.

An operation is a ``decide`` function that looks at the branch as it is now (a
Snapshot) and returns a Decision: nothing to do, a change to push, or wait until
the branch moves. The loop here runs it on fresh state until the change lands,
so a decision is never pushed on top of state it did not see. A push either
lands whole or not at all, so a failed run leaves the remote exactly as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import LockTimeoutError
from ansible_collections.lockpool.git.plugins.module_utils._layout import read_pool
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import race_backoff

NOTHING = 'nothing'
CHANGE = 'change'
WAIT = 'wait'


class Decision(namedtuple('Decision', 'kind lock edits message author reason before after')):
    """What an operation wants done on the state it saw.

    ``lock`` is the LockFile the result is about; ``before``/``after`` describe it
    for diff mode; ``reason`` says what a WAIT waits for.
    """

    __slots__ = ()


def nothing(lock, before=None, reason=None):
    return Decision(NOTHING, lock, (), None, None, reason, before, before)


def change(lock, edits, message, author, before, after):
    return Decision(CHANGE, lock, tuple(edits), message, author, None, before, after)


def wait(lock, reason, before=None, after=None):
    return Decision(WAIT, lock, (), None, None, reason, before, after)


class Snapshot(object):
    """The branch at one commit, read through the cache."""

    def __init__(self, cache, head):
        self.cache = cache
        self.head = head
        self._tree = None
        self._pools = {}

    @property
    def tree(self):
        if self._tree is None:
            self._tree = self.cache.commit(self.head).tree
        return self._tree

    def pool(self, name):
        if name not in self._pools:
            self._pools[name] = read_pool(self.tree, name)
        return self._pools[name]

    def read(self, lock_file):
        return self.cache.read_blob(lock_file.sha)


Outcome = namedtuple('Outcome', 'decision snapshot commit races waited')


def run(cache, decide, check_mode=False, wait_for_lock=True, timeout=0, poll_interval=10.0,
        clock=time.monotonic):
    """Run ``decide`` on fresh state until its change is pushed, nothing is to be done, or time runs out.

    ``timeout`` (seconds, 0 = no limit) bounds waiting and race retries. Returns
    an Outcome whose ``commit`` is the pushed sha (None when nothing was pushed)
    and whose ``snapshot`` is the state the decision was made on.
    """
    started = clock()
    deadline = started + timeout if timeout else None
    races = 0
    waited = 0.0
    while True:
        with cache.exclusive():
            snapshot = Snapshot(cache, cache.fetch())
            decision = decide(snapshot)
            if decision.kind == CHANGE and not check_mode:
                sha = cache.write_commit(snapshot.head, decision.edits, decision.message, decision.author)
                if cache.push(sha):
                    return Outcome(decision, snapshot, sha, races, waited)
                races += 1
        if decision.kind == CHANGE and not check_mode:
            _check_deadline(deadline, clock, timeout, 'the push kept losing races (%d lost)' % races)
            race_backoff(races)
            continue
        if decision.kind == WAIT and wait_for_lock and not check_mode:
            _check_deadline(deadline, clock, timeout, decision.reason)
            wait_started = clock()
            cache.wait_for_change(snapshot.head, poll_interval, deadline)
            waited += clock() - wait_started
            continue
        return Outcome(decision, snapshot, None, races, waited)


def _check_deadline(deadline, clock, timeout, reason):
    if deadline is not None and clock() >= deadline:
        raise LockTimeoutError('gave up after %gs: %s' % (timeout, reason))

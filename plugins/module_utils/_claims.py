# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Claims and releases of one or several locks, with leases, fencing tokens and the fair queue; moves.

Every operation here changes all its locks in one commit or none: a play that
needs two environments never holds one while it waits for the other. A commit
about several locks has the Concourse subject with the names joined by ``, ``
(``claiming: env-1, env-2``) and one ``Lock-Token``/``Lock-Lease-Expires``
trailer per lock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._inventory import absent_lock, describe, existing_lock
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, PoolNotFoundError
from ansible_collections.lockpool.git.plugins.module_utils._layout import CLAIMED, UNCLAIMED, Move, lock_path
from ansible_collections.lockpool.git.plugins.module_utils._leases import lease_fields, lease_trailer
from ansible_collections.lockpool.git.plugins.module_utils._metadata import parse_metadata
from ansible_collections.lockpool.git.plugins.module_utils._names import validate_name
from ansible_collections.lockpool.git.plugins.module_utils._operations import _check_owner, _holder_of, _render
from ansible_collections.lockpool.git.plugins.module_utils._queue import RECHECK_EVERY
from ansible_collections.lockpool.git.plugins.module_utils._tokens import (
    check_token,
    current_token,
    latest_token,
    token_trailer,
)

TRAILER_TO_POOL = 'Lock-To-Pool'


class Selection(object):
    """Which locks a claim wants: the ones named, or ``count`` free ones whose data contains ``match``."""

    def __init__(self, names=None, count=None, match=None):
        if names and (count is not None or match):
            raise InvalidInputError('name cannot be combined with count or match: name says which locks, count and match choose them')
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise InvalidInputError('count must be a whole number of locks, at least 1, got %r' % (count,))
        if match is not None and not isinstance(match, dict):
            raise InvalidInputError('match must be a mapping of metadata keys to values, got %r' % (match,))
        self.names = [validate_name('lock', name) for name in names or ()]
        if len(set(self.names)) != len(self.names):
            raise InvalidInputError('name lists a lock more than once: %s' % ', '.join(self.names))
        self.count = len(self.names) or count or 1
        self.match = match or {}

    def accepts(self, snapshot, lock_file):
        if not self.match:
            return True
        data = parse_metadata(snapshot.read(lock_file))
        return isinstance(data, dict) and all(key in data and data[key] == value for key, value in self.match.items())

    def shortage(self, pool):
        """Why a claim of this selection waits when too few locks are free."""
        which = "pool '%s'%s" % (pool, ' with %s' % self.match if self.match else '')
        if self.count == 1:
            return 'no lock in %s is free' % which
        return 'fewer than %d locks in %s are free' % (self.count, which)


def names_subject(lock_files):
    return ', '.join(lock_file.name for lock_file in lock_files)


def _view(pool, lock_files, state, holder=None):
    """The diff view of locks: their state and holder, and their paths for the diff's headers."""
    return dict(state=state, holder=holder, metadata=None, paths=[lock_path(pool, state, lock_file.name) for lock_file in lock_files])


# -- claiming -----------------------------------------------------------------------

def claim_decider(request, selection, lease=None, waiter=None, tokens=None, clock=time.time):
    """Claim the selected locks in one commit; renew the lease of named locks the holder already holds.

    ``waiter`` (a _queue.Waiter) makes the claim fair; ``tokens`` ({name: token})
    makes a renewal refuse a claim that is no longer the holder's.
    """

    def decide(snapshot):
        pool = snapshot.pool(request.pool)
        if selection.names:
            lock_files = [existing_lock(snapshot, request.pool, name) for name in selection.names]
            held = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED]
            others = [lock_file for lock_file in held if not _held_by_requester(request, snapshot, lock_file)]
            if others:
                return _wait(snapshot, "lock '%s' in pool '%s' is claimed by %s"
                             % (others[0].name, request.pool, _holder_of(snapshot, others[0]) or 'another holder'), lock_files)
            free = [lock_file for lock_file in lock_files if lock_file.state == UNCLAIMED]
            if not free:
                return _renewal(snapshot, lock_files)
        else:
            candidates = [pool.find(name) for name in pool.available()]
            free = [lock_file for lock_file in candidates if selection.accepts(snapshot, lock_file)]
            if len(free) < selection.count:
                return _wait(snapshot, selection.shortage(request.pool), ())
            free = random.sample(free, selection.count)
            lock_files = free
        if _fair():
            ahead = waiter.wanted_ahead()
            if len(pool.available()) - len(free) < ahead:
                return _wait(snapshot, 'earlier waiters of the fair queue want %d lock%s of pool %s first'
                             % (ahead, '' if ahead == 1 else 's', request.pool), lock_files)
        return _claim(snapshot, lock_files, free)

    def _claim(snapshot, lock_files, free):
        """Claim ``free`` (the unclaimed ones of ``lock_files``) with a new token each, and the lease if any."""
        trailers = [token_trailer(request.pool, lock_file.name, latest_token(snapshot, request.pool, lock_file.name) + 1)
                    for lock_file in free]
        trailers += _lease_trailers(free)
        edits = [Move(lock_file, lock_path(request.pool, CLAIMED, lock_file.name)) for lock_file in free]
        return transaction.change(tuple(lock_files), edits, request.message('claim', names_subject(free), trailers),
                                  request.holder, _view(request.pool, free, UNCLAIMED), _view(request.pool, free, CLAIMED, request.holder))

    def _lease_trailers(lock_files):
        if lease is None:
            return []
        return [lease_trailer(request.pool, lock_file.name, clock() + lease) for lock_file in lock_files]

    def _renewal(snapshot, lock_files):
        for lock_file in lock_files:
            if lock_file.name in (tokens or {}):
                check_token(snapshot, lock_file, tokens[lock_file.name], 'renew')
        view = _view(request.pool, lock_files, CLAIMED, request.holder)
        if lease is None:
            return transaction.nothing(tuple(lock_files), view)
        return transaction.change(tuple(lock_files), [], request.message('renew', names_subject(lock_files), _lease_trailers(lock_files)),
                                  request.holder, view, view)

    def _fair():
        return waiter is not None and not waiter.refused

    def _wait(snapshot, reason, lock_files):
        if not _fair():
            return transaction.wait(tuple(lock_files), reason)
        return transaction.wait(tuple(lock_files), reason, recheck_after=RECHECK_EVERY)

    return decide


def _held_by_requester(request, snapshot, lock_file):
    return request.holder_given and _holder_of(snapshot, lock_file) == request.holder


# -- releasing ------------------------------------------------------------------------

def release_decider(request, names, tokens=None):
    """Release the named locks in one commit; with ``tokens``, only while those claims are current."""
    for name in names:
        validate_name('lock', name)

    def decide(snapshot):
        lock_files = [existing_lock(snapshot, request.pool, name) for name in names]
        for lock_file in lock_files:
            if lock_file.name in (tokens or {}):
                check_token(snapshot, lock_file, tokens[lock_file.name], 'release')
        claimed = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED]
        if not claimed:
            return transaction.nothing(tuple(lock_files), _view(request.pool, lock_files, UNCLAIMED))
        for lock_file in claimed:
            _check_owner(request, snapshot, lock_file, 'release')
        edits = [Move(lock_file, lock_path(request.pool, UNCLAIMED, lock_file.name)) for lock_file in claimed]
        return transaction.change(tuple(lock_files), edits, request.message('release', names_subject(claimed)),
                                  request.holder, _view(request.pool, claimed, CLAIMED, _holder_of(snapshot, claimed[0])),
                                  _view(request.pool, claimed, UNCLAIMED))
    return decide


# -- moving -----------------------------------------------------------------------------

def move_decider(request, name, to_pool):
    """Move a lock to ``to_pool`` in one commit, metadata and mode kept; it arrives unclaimed.

    A claimed lock is moved only by its holder (or with force), which releases it
    into the other pool; anyone else's claim is waited for. A lock that is already in
    ``to_pool`` and no longer in the pool is where it was asked to go: nothing to do.
    """
    validate_name('lock', name)
    validate_name('pool', to_pool)
    if to_pool == request.pool:
        raise InvalidInputError("to_pool must be another pool than pool '%s'" % to_pool)

    def decide(snapshot):
        arrived = snapshot.pool(to_pool).find(name)
        if arrived is not None and snapshot.pool(request.pool).find(name) is None:
            return transaction.nothing((arrived,), _view(to_pool, [arrived], arrived.state))
        lock_file = existing_lock(snapshot, request.pool, name)
        if arrived is not None:
            raise InvalidInputError("cannot move lock '%s' to pool '%s': that pool already has a lock of that name" % (name, to_pool))
        if lock_file.state == CLAIMED and not (request.force or _held_by_requester(request, snapshot, lock_file)):
            _check_owner(request, snapshot, lock_file, 'move')
            return transaction.wait((lock_file,), "lock '%s' in pool '%s' is claimed by %s; it is moved once it is released"
                                    % (name, request.pool, _holder_of(snapshot, lock_file) or 'another holder'))
        carried = max(latest_token(snapshot, request.pool, name), latest_token(snapshot, to_pool, name))
        trailers = [(TRAILER_TO_POOL, to_pool), token_trailer(to_pool, name, carried)]
        target = lock_path(to_pool, UNCLAIMED, name)
        return transaction.change((lock_file,), [Move(lock_file, target)], request.message('move', name, trailers),
                                  request.holder, _view(request.pool, [lock_file], lock_file.state), _view(to_pool, [lock_file], UNCLAIMED))
    return decide


# -- results ------------------------------------------------------------------------------

def describe_with_lease(snapshot, pool, name):
    """The ``lock`` result of pool_lock, with ``token``, ``expires_at`` and ``expired``."""
    try:
        lock_file = snapshot.pool(pool).find(name)
    except PoolNotFoundError:
        lock_file = None
    if lock_file is None:
        return dict(absent_lock(pool, name), token=None, expires_at=None, expired=False)
    return dict(describe(snapshot, lock_file), **claim_fields(snapshot, lock_file))


def claim_fields(snapshot, lock_file):
    """``token``, ``expires_at`` and ``expired`` of a lock's current claim (null and false when it is unclaimed)."""
    return dict(lease_fields(snapshot, lock_file), token=current_token(snapshot, lock_file))


def execute_on_locks(cache, request, decide, waiter=None, result_pool=None, observer=None):
    """Run a decider of this module; the result has ``locks`` (each lock it is about) and ``lock`` (the first).

    ``result_pool`` is where the locks are once the change has landed (a move's destination);
    ``observer`` is a transaction.Observer.
    """
    try:
        outcome = transaction.run(cache, decide, check_mode=request.check_mode, wait_for_lock=request.wait,
                                  timeout=request.timeout, poll_interval=request.poll_interval, observer=observer,
                                  before_wait=waiter.before_wait if waiter is not None else None,
                                  push_also=waiter.departure if waiter is not None else None)
        if waiter is not None and outcome.commit:
            waiter.departed()
    finally:
        if waiter is not None:
            waiter.leave()
    decision = outcome.decision
    snapshot = Snapshot.after_push(cache, outcome) if outcome.commit else outcome.snapshot
    if observer is not None:
        observer.finished(decision, snapshot)
    locks = [describe_with_lease(snapshot, result_pool if outcome.commit and result_pool else lock_file.pool, lock_file.name)
             for lock_file in decision.lock]
    return dict(
        changed=decision.kind == transaction.CHANGE,
        locks=locks,
        lock=locks[0] if locks else None,
        waiting_for=decision.reason if decision.kind == transaction.WAIT else None,
        attempts=outcome.races,
        waited=round(outcome.waited, 3),
        commit=outcome.commit,
        diff=dict(before=_render(decision.before), after=_render(decision.after),
                  before_header=_headers(decision.before), after_header=_headers(decision.after)),
    )


def _headers(view):
    return ', '.join(view['paths']) if view else ''

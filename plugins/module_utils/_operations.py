# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock operations: one object per ``state:`` of pool_lock (and pool_reap's reap), in one table.

An operation validates its own options when it is made, decides on a snapshot of
the branch (a function of that snapshot and of what it read outside the branch
before the cache lock: the fair queue), and describes its result. ``execute`` runs
any of them through the transaction. To add a state: write its class here, add it
to OPERATIONS, and document it in pool_lock's DOCUMENTATION.

These are the Concourse ``out`` step's semantics, made idempotent and safe. A
holder that was named by the caller (``holder_given``) is compared with the
holder recorded in the repository: re-claiming one's own lock is a no-op and
releasing someone else's lock is refused unless ``force``. A holder that was only
defaulted is never taken for another run's: such a claim of a claimed lock waits,
and such a release behaves like Concourse's. Every operation changes all its locks
in one commit or none; a commit about several locks has the Concourse subject with
the names joined by ``, `` and one trailer per lock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import re
import time

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, NotHolderError, PoolNotFoundError
from ansible_collections.lockpool.git.plugins.module_utils._inventory import ABSENT, existing_lock
from ansible_collections.lockpool.git.plugins.module_utils._layout import (
    CLAIMED, FILE_MODE, UNCLAIMED, Delete, LockFile, Move, Write, lock_path, new_pool_edits,
)
from ansible_collections.lockpool.git.plugins.module_utils._leases import lease_expiry, lease_trailer
from ansible_collections.lockpool.git.plugins.module_utils._message import format_message, lock_trailer, parse_message
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_bytes, metadata_text, parse_metadata
from ansible_collections.lockpool.git.plugins.module_utils._names import validate_name
from ansible_collections.lockpool.git.plugins.module_utils._queue import RECHECK_EVERY, FairWaiter
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import check_token, current_token, latest_token, lock_id, parse_token_option, token_trailer

_HOLDER_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>]')
TRAILER_TO_POOL = 'Lock-To-Pool'
TRAILER_REAPED = 'Lock-Reaped'


class Request(object):
    """Who asks, and how: the options every operation shares."""

    def __init__(self, pool, holder, holder_given, team=None, force=False,
                 check_mode=False, wait=True, timeout=0, poll_interval=10.0):
        self.pool = validate_name('pool', pool)
        self.holder = _validate_label('holder', holder)
        self.team = _validate_label('team', team) if team else None
        self.holder_given = holder_given
        self.force = force
        self.check_mode = check_mode
        self.wait = wait
        self.timeout = timeout
        self.poll_interval = poll_interval

    @classmethod
    def from_params(cls, params, check_mode, default_holder):
        """The request of a module's ``params``; ``default_holder()`` names the holder when none is given."""
        return cls(pool=params['pool'], holder=params.get('holder') or default_holder(), holder_given=bool(params.get('holder')),
                   team=params.get('team'), force=params.get('force', False), check_mode=check_mode,
                   wait=params.get('wait', True), timeout=parse_duration(params.get('timeout') or 0, 'timeout'),
                   poll_interval=max(parse_duration(params.get('retry_delay') or '10s', 'retry_delay'), 0.1))

    def message(self, verb, name, trailers=None):
        return format_message(verb, name, self.holder, self.team, self.pool, trailers)


def _validate_label(kind, value):
    if not value or _HOLDER_FORBIDDEN.search(value) or len(value) > 256:
        raise InvalidInputError('%s must be 1 to 256 characters without control characters or <>, got %r' % (kind, value))
    return value


# -- running one ----------------------------------------------------------------------

def execute(cache, operation, observer=None):
    """Run ``operation`` through the transaction; its result, with what every run reports.

    ``observer`` is a transaction.Observer (metrics; a test's pause).
    """
    request = operation.request
    outcome = None
    try:
        outcome = transaction.run(cache, operation, check_mode=request.check_mode, wait_for_lock=request.wait,
                                  timeout=request.timeout, poll_interval=request.poll_interval, observer=observer)
    finally:
        operation.finish(outcome)
    decision = outcome.decision
    snapshot = Snapshot.after_push(cache, outcome) if outcome.commit else outcome.snapshot
    if observer is not None:
        observer.finished(decision, snapshot)
    result = dict(changed=decision.kind == transaction.CHANGE, attempts=outcome.races, waited=round(outcome.waited, 3),
                  commit=outcome.commit, diff=dict(before=_render(decision.before), after=_render(decision.after),
                                                   before_header=_headers(decision.before), after_header=_headers(decision.after)))
    if decision.kind == transaction.WAIT:
        result['waiting_for'] = decision.reason
    result.update(operation.result(decision, snapshot, outcome.commit))
    return result


def _render(view):
    if not view:
        return ''
    lines = ['state: %s' % view['state']]
    if view.get('holder'):
        lines.append('holder: %s' % view['holder'])
    text = '\n'.join(lines) + '\n'
    if view.get('metadata') is not None:
        text += '---\n' + view['metadata'] + ('' if view['metadata'].endswith('\n') or not view['metadata'] else '\n')
    return text


def _headers(view):
    return ', '.join(view['paths']) if view else ''


def _view(pool, names, state, holder=None, metadata=None):
    """The diff view of locks: their state, holder and metadata, and their paths for the diff's headers."""
    return dict(state=state, holder=holder, metadata=metadata, paths=[lock_path(pool, state, name) for name in names])


def names_subject(lock_files):
    return ', '.join(lock_file.name for lock_file in lock_files)


# -- what the repository says about a lock -------------------------------------------

def _holder_of(snapshot, lock_file):
    found = inventory.origin(snapshot, lock_file)
    return found.holder if found else None


def _held_by_requester(request, snapshot, lock_file):
    return request.holder_given and _holder_of(snapshot, lock_file) == request.holder


def _check_owner(request, snapshot, lock_file, action):
    """Refuse to ``action`` a claimed lock that the named holder does not hold."""
    if lock_file.state != CLAIMED or not request.holder_given or request.force:
        return
    current = _holder_of(snapshot, lock_file)
    if current != request.holder:
        raise NotHolderError(
            "cannot %s lock '%s' in pool '%s': it is held by %s, not by %s (use force to override)"
            % (action, lock_file.name, request.pool, current or 'an unknown holder', request.holder))


def _find(snapshot, pool, name):
    """The lock file of ``name`` in ``pool``, or None when the lock or the pool does not exist."""
    try:
        return snapshot.pool(pool).find(name)
    except PoolNotFoundError:
        return None


# -- options ----------------------------------------------------------------------------

def _names(params, state, several=False):
    """The ``name`` option as a list of lock names (empty when not given); one name unless ``several``."""
    name = params.get('name')
    if name is None:
        return []
    names = name if isinstance(name, list) else [name]
    if len(names) != 1 and not several:
        raise InvalidInputError('name must be a single lock with state %s' % state)
    return [validate_name('lock', each) for each in names]


def _lease(value):
    if value is None:
        return None
    lease = parse_duration(value, 'lease')
    if lease <= 0:
        raise InvalidInputError('lease must be longer than 0s, got %r' % (value,))
    return lease


# -- the operations ----------------------------------------------------------------------

class Operation(object):
    """What every operation has. The transaction calls look_outside, decide, before_wait and push_also;
    execute calls finish and result. ``required`` are the options the state needs, ``metric`` its label."""

    state = None
    required = ('name',)
    metric = None

    def __init__(self, request, params):
        self.request = request

    @classmethod
    def metric_label(cls, params, decision):
        """The Pix4D fork's ``operation`` label of a run of this state (``decision``: the last one seen, or None)."""
        return cls.metric

    def look_outside(self, cache):
        return None

    def decide(self, snapshot, outside):
        raise NotImplementedError

    def before_wait(self, head):
        return None

    def push_also(self):
        return ()

    def finish(self, outcome):
        """The run is over (``outcome`` None when it failed)."""

    def warnings(self):
        return []

    def result(self, decision, snapshot, commit):
        """This state's own fields of the result: the locks the decision is about, as they are now."""
        locks = [inventory.describe_claim(snapshot, lock_file.pool, lock_file.name) for lock_file in decision.locks]
        return dict(locks=locks, lock=locks[0] if locks else None, acquired=False)


class Present(Operation):
    """Add the lock (claimed or not) or update its metadata; no ``metadata`` keeps what is there."""

    state = 'present'

    def __init__(self, request, params):
        super(Present, self).__init__(request, params)
        self.name = _names(params, self.state)[0]
        self.data = metadata_bytes(params['metadata']) if params.get('metadata') is not None else None
        self.claimed = params.get('claimed', False)

    @classmethod
    def metric_label(cls, params, decision):
        if decision is not None and decision.before['state'] != ABSENT:
            return 'update_lock'
        return 'add_claimed_lock' if params['claimed'] else 'add_unclaimed_lock'

    def decide(self, snapshot, outside):
        request = self.request
        lock_file = _find(snapshot, request.pool, self.name)
        if lock_file is None:
            return self._add(snapshot)
        current = snapshot.read(lock_file)
        before = _view(request.pool, [self.name], lock_file.state, metadata=metadata_text(current))
        if self.data is None or current == self.data:
            return transaction.nothing([lock_file], before)
        if lock_file.state == CLAIMED:
            holder = _holder_of(snapshot, lock_file)
            if not (request.holder_given and holder == request.holder):
                return transaction.wait([lock_file], "lock '%s' in pool '%s' is claimed by %s; its metadata is updated once it is released"
                                        % (self.name, request.pool, holder or 'another holder'), before)
        return transaction.change([lock_file], [Write(lock_file.path, self.data, lock_file.mode)], request.message('update', self.name),
                                  request.holder, before, _view(request.pool, [self.name], lock_file.state, metadata=metadata_text(self.data)))

    def _add(self, snapshot):
        request = self.request
        edits = [] if _pool_exists(snapshot, request.pool) else new_pool_edits(request.pool)
        state = CLAIMED if self.claimed else UNCLAIMED
        edits.append(Write(lock_path(request.pool, state, self.name), self.data or b'', FILE_MODE))
        placeholder = LockFile(request.pool, self.name, state, None, FILE_MODE)
        return transaction.change([placeholder], edits, request.message('add_claimed' if self.claimed else 'add', self.name),
                                  request.holder, _view(request.pool, [self.name], ABSENT),
                                  _view(request.pool, [self.name], state, request.holder if self.claimed else None,
                                        metadata_text(self.data or b'')))

    def result(self, decision, snapshot, commit):
        found = super(Present, self).result(decision, snapshot, commit)
        if found['lock']['state'] == ABSENT:  # check mode: the lock as it would be added
            found['lock']['state'] = decision.after['state']
        return found


def _pool_exists(snapshot, pool):
    try:
        snapshot.pool(pool)
    except PoolNotFoundError:
        return False
    return True


class Absent(Operation):
    """Remove the lock, claimed or not; a claimed one only by its holder (or with force)."""

    state = 'absent'
    metric = 'remove_lock'

    def __init__(self, request, params):
        super(Absent, self).__init__(request, params)
        self.name = _names(params, self.state)[0]

    def decide(self, snapshot, outside):
        request = self.request
        lock_file = _find(snapshot, request.pool, self.name)
        if lock_file is None:
            return transaction.nothing([], _view(request.pool, [self.name], ABSENT))
        _check_owner(request, snapshot, lock_file, 'remove')
        before = _view(request.pool, [self.name], lock_file.state, metadata=metadata_text(snapshot.read(lock_file)))
        return transaction.change([lock_file], [Delete(lock_file.path)], request.message('remove', self.name),
                                  request.holder, before, _view(request.pool, [self.name], ABSENT))

    def result(self, decision, snapshot, commit):
        lock = inventory.describe_claim(snapshot, self.request.pool, self.name)
        return dict(locks=[lock], lock=lock, acquired=False)


class Selection(object):
    """Which locks a claim wants: the ones named, or ``count`` free ones whose data contains ``match``."""

    def __init__(self, names=None, count=None, match=None):
        if names and (count is not None or match):
            raise InvalidInputError('name cannot be combined with count or match: name says which locks, count and match choose them')
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise InvalidInputError('count must be a whole number of locks, at least 1, got %r' % (count,))
        if match is not None and not isinstance(match, dict):
            raise InvalidInputError('match must be a mapping of metadata keys to values, got %r' % (match,))
        self.names = list(names or ())
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


class Claim(Operation):
    """Claim the selected locks in one commit; renew the lease of named locks the holder already holds.

    Fair (the default), it waits in the pool's queue: what the queue wants before it is read outside the
    cache lock (``look_outside``) and handed to ``decide``. With ``token`` a renewal refuses a claim that is
    no longer the holder's.
    """

    state = 'claimed'
    required = ()

    def __init__(self, request, params, clock=time.time):
        super(Claim, self).__init__(request, params)
        names = _names(params, self.state, several=True)
        self.selection = Selection(names, params.get('count'), params.get('match'))
        self.lease = _lease(params.get('lease'))
        self.tokens = parse_token_option(params.get('token'), names)
        self.fair = params.get('fair', True)
        self.clock = clock
        self.waiter = None

    @classmethod
    def metric_label(cls, params, decision):
        return 'claim_lock' if params['name'] else 'acquire_lock'

    def look_outside(self, cache):
        """How many locks the fair queue's earlier waiters want; None when the claim is not fair."""
        if self.fair and self.waiter is None:
            self.waiter = FairWaiter(cache, self.request.pool, self.selection.count)
        if not self.fair or self.waiter.refused:
            return None
        return self.waiter.wanted_ahead()

    def decide(self, snapshot, outside):
        """``outside``: how many locks the fair queue's earlier waiters want (None: not fair)."""
        request, pool, wanted_ahead = self.request, snapshot.pool(self.request.pool), outside
        if self.selection.names:
            lock_files = [existing_lock(snapshot, request.pool, name) for name in self.selection.names]
            for lock_file in lock_files:  # a token says this is a renewal: of a claim that must still be current
                if lock_file.name in self.tokens:
                    check_token(snapshot, lock_file, self.tokens[lock_file.name], 'renew')
            others = [lock_file for lock_file in lock_files
                      if lock_file.state == CLAIMED and not _held_by_requester(request, snapshot, lock_file)]
            if others:
                return self._wait(lock_files, wanted_ahead, "lock '%s' in pool '%s' is claimed by %s"
                                  % (others[0].name, request.pool, _holder_of(snapshot, others[0]) or 'another holder'))
            free = [lock_file for lock_file in lock_files if lock_file.state == UNCLAIMED]
            if not free:
                return self._renewal(snapshot, lock_files)
        else:
            free = [lock_file for lock_file in (pool.find(name) for name in pool.available())
                    if self.selection.accepts(snapshot, lock_file)]
            if len(free) < self.selection.count:
                return self._wait([], wanted_ahead, self.selection.shortage(request.pool))
            lock_files = free = random.sample(free, self.selection.count)
        if wanted_ahead is not None and len(pool.available()) - len(free) < wanted_ahead:
            return self._wait(lock_files, wanted_ahead, 'earlier waiters of the fair queue want %d lock%s of pool %s first'
                              % (wanted_ahead, '' if wanted_ahead == 1 else 's', request.pool))
        return self._claim(snapshot, lock_files, free)

    def _claim(self, snapshot, lock_files, free):
        """Claim ``free`` (the unclaimed ones of ``lock_files``) with a new token each, and the lease if any."""
        request = self.request
        trailers = [token_trailer(request.pool, lock_file.name, latest_token(snapshot, request.pool, lock_file.name) + 1)
                    for lock_file in free]
        trailers += self._lease_trailers(free)
        edits = [Move(lock_file, lock_path(request.pool, CLAIMED, lock_file.name)) for lock_file in free]
        names = [lock_file.name for lock_file in free]
        return transaction.change(lock_files, edits, request.message('claim', names_subject(free), trailers), request.holder,
                                  _view(request.pool, names, UNCLAIMED), _view(request.pool, names, CLAIMED, request.holder))

    def _lease_trailers(self, lock_files):
        if self.lease is None:
            return []
        return [lease_trailer(self.request.pool, lock_file.name, self.clock() + self.lease) for lock_file in lock_files]

    def _renewal(self, snapshot, lock_files):
        request = self.request
        view = _view(request.pool, [lock_file.name for lock_file in lock_files], CLAIMED, request.holder)
        if self.lease is None:
            return transaction.nothing(lock_files, view)
        return transaction.change(lock_files, [], request.message('renew', names_subject(lock_files), self._lease_trailers(lock_files)),
                                  request.holder, view, view)

    def _wait(self, lock_files, wanted_ahead, reason):
        """A wait; a fair one decides again every RECHECK_EVERY seconds, for the queue changes outside the branch."""
        return transaction.wait(lock_files, reason, recheck_after=RECHECK_EVERY if wanted_ahead is not None else None)

    def before_wait(self, head):
        return self.waiter.before_wait(head) if self.waiter is not None else None

    def push_also(self):
        return self.waiter.departure() if self.waiter is not None else ()

    def finish(self, outcome):
        if self.waiter is not None:
            if outcome is not None and outcome.commit:
                self.waiter.departed()
            self.waiter.leave()

    def warnings(self):
        return [self.waiter.refused] if self.waiter is not None and self.waiter.refused else []

    def result(self, decision, snapshot, commit):
        found = super(Claim, self).result(decision, snapshot, commit)
        found['acquired'] = decision.kind != transaction.WAIT and all(lock['state'] == CLAIMED for lock in found['locks'])
        would_claim = self.request.check_mode and decision.kind == transaction.CHANGE  # check mode names what it would claim
        if not found['acquired'] and not self.selection.names and not would_claim:
            found.update(lock=None, locks=[])
        return found


class Release(Operation):
    """Release the named locks in one commit; with ``token``, only while those claims are current."""

    state = 'released'
    metric = 'release_lock'

    def __init__(self, request, params):
        super(Release, self).__init__(request, params)
        self.names = _names(params, self.state, several=True)
        self.tokens = parse_token_option(params.get('token'), self.names)

    def decide(self, snapshot, outside):
        request = self.request
        lock_files = [existing_lock(snapshot, request.pool, name) for name in self.names]
        for lock_file in lock_files:
            if lock_file.name in self.tokens:
                check_token(snapshot, lock_file, self.tokens[lock_file.name], 'release')
        claimed = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED]
        if not claimed:
            return transaction.nothing(lock_files, _view(request.pool, self.names, UNCLAIMED))
        for lock_file in claimed:
            _check_owner(request, snapshot, lock_file, 'release')
        edits = [Move(lock_file, lock_path(request.pool, UNCLAIMED, lock_file.name)) for lock_file in claimed]
        names = [lock_file.name for lock_file in claimed]
        return transaction.change(lock_files, edits, request.message('release', names_subject(claimed)), request.holder,
                                  _view(request.pool, names, CLAIMED, _holder_of(snapshot, claimed[0])),
                                  _view(request.pool, names, UNCLAIMED))


class MoveLock(Operation):
    """Move a lock to ``to_pool`` in one commit, metadata and mode kept; it arrives unclaimed.

    A claimed lock is moved only by its holder (or with force), which releases it into the other pool;
    anyone else's claim is waited for. A lock that is already in ``to_pool`` and no longer in the pool is
    where it was asked to go: nothing to do.
    """

    state = 'moved'
    required = ('name', 'to_pool')
    metric = 'move_lock'

    def __init__(self, request, params):
        super(MoveLock, self).__init__(request, params)
        self.name = _names(params, self.state)[0]
        self.to_pool = validate_name('pool', params['to_pool'])
        if self.to_pool == request.pool:
            raise InvalidInputError("to_pool must be another pool than pool '%s'" % self.to_pool)

    def decide(self, snapshot, outside):
        request, name, to_pool = self.request, self.name, self.to_pool
        arrived = snapshot.pool(to_pool).find(name)
        if arrived is not None and snapshot.pool(request.pool).find(name) is None:
            return transaction.nothing([arrived], _view(to_pool, [name], arrived.state))
        lock_file = existing_lock(snapshot, request.pool, name)
        if arrived is not None:
            raise InvalidInputError("cannot move lock '%s' to pool '%s': that pool already has a lock of that name" % (name, to_pool))
        if lock_file.state == CLAIMED and not (request.force or _held_by_requester(request, snapshot, lock_file)):
            _check_owner(request, snapshot, lock_file, 'move')
            return transaction.wait([lock_file], "lock '%s' in pool '%s' is claimed by %s; it is moved once it is released"
                                    % (name, request.pool, _holder_of(snapshot, lock_file) or 'another holder'))
        carried = max(latest_token(snapshot, request.pool, name), latest_token(snapshot, to_pool, name))
        trailers = [(TRAILER_TO_POOL, to_pool), token_trailer(to_pool, name, carried)]
        return transaction.change([lock_file], [Move(lock_file, lock_path(to_pool, UNCLAIMED, name))],
                                  request.message('move', name, trailers), request.holder,
                                  _view(request.pool, [name], lock_file.state), _view(to_pool, [name], UNCLAIMED))

    def result(self, decision, snapshot, commit):
        pool = self.to_pool if commit else decision.locks[0].pool
        lock = inventory.describe_claim(snapshot, pool, self.name)
        return dict(locks=[lock], lock=lock, acquired=False)


class Reap(Operation):
    """Release, in one commit, every claimed lock of the pool whose claim is stale; only ``request.team``'s when given.

    A claim is stale when its lease has expired, or (with ``older_than``) when it was made longer ago than
    that. A claim without a lease, Concourse's included, is only ever reaped by age. The release is one
    ``unclaiming: a, b`` commit (Concourse's subject) with a ``Lock-Reaped`` trailer per lock saying why.
    """

    state = 'reaped'
    required = ()
    metric = 'reap_locks'

    def __init__(self, request, params, clock=time.time):
        super(Reap, self).__init__(request, params)
        self.older_than = parse_duration(params['older_than'], 'older_than') if params.get('older_than') is not None else None
        self.clock = clock

    def decide(self, snapshot, outside):
        request = self.request
        pool = snapshot.pool(request.pool)
        now = self.clock()
        stale = [found for found in (self._staleness(snapshot, pool.claimed[name], now)
                                     for name in sorted(set(pool.claimed) - set(pool.unclaimed)))
                 if found is not None and (request.team is None or found['team'] == request.team)]
        if not stale:
            return transaction.nothing([], found=[])
        lock_files = [pool.claimed[found['name']] for found in stale]
        names = [found['name'] for found in stale]
        edits = [Move(lock_file, lock_path(request.pool, UNCLAIMED, lock_file.name)) for lock_file in lock_files]
        trailers = [lock_trailer(TRAILER_REAPED, lock_id(request.pool, found['name']), found['reason']) for found in stale]
        return transaction.change(lock_files, edits, request.message('release', ', '.join(names), trailers), request.holder,
                                  _view(request.pool, names, CLAIMED), _view(request.pool, names, UNCLAIMED), found=stale)

    def _staleness(self, snapshot, lock_file, now):
        """Why the claim of ``lock_file`` is stale ('lease-expired' or 'older-than'), with what we know of it; None if it is not."""
        claim = snapshot.added_by(lock_file.path)
        event = parse_message(claim.message, claim.author) if claim else None
        expiry = lease_expiry(snapshot, lock_file)
        found = dict(name=lock_file.name, holder=event.holder if event else None, team=event.team if event else None,
                     claimed_at=utc_text(claim.time) if claim else None, token=current_token(snapshot, lock_file),
                     expires_at=utc_text(expiry) if expiry is not None else None)
        if expiry is not None and expiry <= now:
            return dict(found, reason='lease-expired')
        if self.older_than is not None and claim is not None and claim.time <= now - self.older_than:
            return dict(found, reason='older-than')
        return None

    def result(self, decision, snapshot, commit):
        return dict(released=decision.found)


# pool_lock's states; pool_reap runs Reap.
OPERATIONS = dict((operation.state, operation) for operation in (Claim, Release, Present, Absent, MoveLock))

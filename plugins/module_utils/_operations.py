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
from ansible_collections.lockpool.git.plugins.module_utils import _job_systems as job_systems
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._dirty import dirty_of, dirty_token, dirty_trailers, resetting_trailer
from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    InvalidInputError, LockpoolError, NotHolderError, PoolNotFoundError, PushRejectedError, TaskStoppedError,
)
from ansible_collections.lockpool.git.plugins.module_utils._inventory import ABSENT, DIRTY, claimed_only, existing_lock
from ansible_collections.lockpool.git.plugins.module_utils._layout import (
    CLAIMED, FILE_MODE, UNCLAIMED, Delete, LockFile, Move, Write, lock_path, new_pool_edits,
)
from ansible_collections.lockpool.git.plugins.module_utils._leases import (
    CLAIM_IN_FORCE_TRAILERS, LEASE_REFS, forget_refs, lease_expiry, lease_has_expired, lease_trailer, next_expiry, renewal_refs, renewal_refspecs,
    read_renewals, takeover_trailer,
)
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import UNBOUND
from ansible_collections.lockpool.git.plugins.module_utils._message import format_message, lock_trailer, parse_message
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_bytes, metadata_text, parse_metadata
from ansible_collections.lockpool.git.plugins.module_utils._names import concourse_unreadable, unclaimable, validate_existing_name, validate_name
from ansible_collections.lockpool.git.plugins.module_utils._queue import RECHECK_EVERY, FairWaiter
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import check_token, current_token, latest_token, lock_id, parse_token_option, token_trailer

_HOLDER_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>]')
TRAILER_TO_POOL = 'Lock-To-Pool'
TRAILER_REAPED = 'Lock-Reaped'
LEASE_RECHECK_MARGIN = 0.2  # seconds after a lease runs out that a claim waiting for its lock decides again


class Request(object):
    """Who asks, and how: the options every operation shares."""

    def __init__(self, pool, holder, holder_given, team=None, force=False,
                 check_mode=False, wait=True, timeout=0, poll_interval=10.0, job=None):
        self.pool = validate_name('pool', pool)
        self.holder = _validate_label('holder', holder)
        self.team = _validate_label('team', team) if team else None
        self.job = _validate_label('job', job) if job else None  # recorded with a claim (Lock-Job), for pool_reap
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
                   poll_interval=max(parse_duration(params.get('retry_delay') or '10s', 'retry_delay'), 0.1),
                   job=params.get('job'))

    def message(self, verb, name, trailers=None):
        return format_message(verb, name, self.holder, self.team, self.pool, trailers)


def _validate_label(kind, value):
    if not value or _HOLDER_FORBIDDEN.search(value) or len(value) > 256:
        raise InvalidInputError('%s must be 1 to 256 characters without control characters or <>, got %r' % (kind, value))
    return value


# -- running one ----------------------------------------------------------------------

def execute(cache, operation, observer=None, lifetime=UNBOUND):
    """Run ``operation`` through the transaction; its result, with what every run reports.

    ``observer`` is a transaction.Observer (metrics; a test's pause). ``lifetime`` (_lifetime.Lifetime)
    ends a wait once the task must stop; a change that landed as the task was stopped, and that nobody
    would undo (a claim), is given back (``given_back``) before TaskStoppedError says so.
    """
    request = operation.request
    outcome = None
    try:
        while outcome is None or operation.goes_on(outcome.decision):  # a first step landed: the operation goes on from there
            step = transaction.run(cache, operation, check_mode=request.check_mode, wait_for_lock=request.wait,
                                   timeout=request.timeout, poll_interval=request.poll_interval, observer=observer,
                                   lifetime=lifetime)
            outcome = step if outcome is None else step._replace(races=outcome.races + step.races, waited=outcome.waited + step.waited)
    except BaseException:
        operation.finish(cache, outcome)
        raise
    try:
        operation.finish(cache, outcome)
        result = _result(cache, operation, outcome, observer)
    except TaskStoppedError:
        raise
    except Exception as exc:  # a change that landed is never kept by a task that fails after it: it is given back
        given_back = _give_back(cache, operation, outcome)
        if given_back and isinstance(exc, LockpoolError):
            raise type(exc)('%s; what it had just claimed (%s) was given back' % (exc, given_back))
        raise
    _give_back_if_stopped(cache, operation, outcome.decision, result.pop('_snapshot'), outcome.commit, lifetime)
    return result


def _result(cache, operation, outcome, observer):
    """What every run reports, and the state's own fields; ``_snapshot`` is the state the result describes."""
    decision = outcome.decision
    if outcome.commit:
        snapshot = Snapshot.after_push(cache, outcome)
    elif decision.refs and not operation.request.check_mode:  # refs outside the branch changed: read them again
        snapshot = Snapshot(cache, outcome.snapshot.head)
    else:
        snapshot = outcome.snapshot
    if observer is not None:
        observer.finished(decision, snapshot)
    result = dict(changed=decision.kind == transaction.CHANGE, attempts=outcome.races, waited=round(outcome.waited, 3),
                  commit=outcome.commit, diff=dict(before=_render(decision.before), after=_render(decision.after),
                                                   before_header=_headers(decision.before), after_header=_headers(decision.after)))
    if decision.kind == transaction.WAIT:
        result['waiting_for'] = decision.reason
    result.update(operation.result(decision, snapshot, outcome.commit))
    result['_snapshot'] = snapshot
    return result


def _give_back(cache, operation, outcome):
    """Undo the change ``outcome`` landed (best effort); the names of the locks given back, or None."""
    if not outcome.commit or operation.request.check_mode:
        return None
    try:
        undo = operation.undo(outcome.decision, Snapshot(cache, outcome.commit), outcome.commit)
        if undo is None:
            return None
        execute(cache, undo)
    except Exception:  # the task fails anyway, saying why; a claim's lease (the role's) still ends it
        return None
    return names_subject(outcome.decision.locks)


def _give_back_if_stopped(cache, operation, decision, snapshot, commit, lifetime):
    """When the task was stopped as its change landed: undo what nobody else would, then say it stopped."""
    reason = lifetime.must_stop(look_now=True)
    if reason is None or decision.kind != transaction.CHANGE or operation.request.check_mode:
        return
    undo = operation.undo(decision, snapshot, commit)
    if undo is not None:
        execute(cache, undo)
    given_back = '; what it had just claimed (%s) was given back' % names_subject(decision.locks) if undo is not None else ''
    raise TaskStoppedError('gave up: %s%s' % (reason, given_back))


def keep_renewed(cache, claim, lifetime, clock=time.monotonic):
    """Renew the lease of ``claim`` (a Claim of held locks, with their tokens) every third of the lease, until the
    claim is over or the task must stop (then its lease runs out by itself); the result of the last renewal.

    Between renewals nothing asks the server: a release pushed from this machine ends the wait at once, one pushed
    elsewhere at the next renewal, which finds the claim over.
    """
    every = claim.lease / 3.0
    result, renewals = execute(cache, claim, lifetime=lifetime), 1
    if lifetime.controller is None:  # nothing tells when the play is gone: renewing on would keep a dead play's lock
        return dict(result, renewals=renewals, ended='renewed once, not while the play lives: no controller process to watch '
                    '(the task does not run on the controller, or controller_process is not set)')
    while True:
        try:
            if cache.wait_for_change(cache.local_head(), every, clock() + every, sleep=lifetime.sleep) and not claim.still_held(cache):
                return dict(claim.forget_renewals(cache, result), renewals=renewals, ended='the claim is over')
            result, renewals = execute(cache, claim.again(), lifetime=lifetime), renewals + 1
        except NotHolderError as exc:
            return dict(claim.forget_renewals(cache, result), renewals=renewals, ended=str(exc))
        except TaskStoppedError as exc:
            return dict(result, renewals=renewals, ended='%s; the lease runs out by itself' % exc)


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


def _latest_token(snapshot, pool, name):
    """The newest token of ``pool/name``, counting the claims that leave its file where it is (takeover, reset)."""
    return latest_token(snapshot, pool, name, CLAIM_IN_FORCE_TRAILERS)


def _released_dirty(snapshot, lock_file, token):
    """Whether the claim ``token`` of ``lock_file`` is the one its dirty release ended (that token is no one's now)."""
    return lock_file.state == CLAIMED and dirty_token(snapshot.added_by(lock_file.path), lock_file.pool, lock_file.name) == str(token)


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

def _names(params, state, several=False, validate=validate_name):
    """The ``name`` option as a list of lock names (empty when not given); one name unless ``several``.

    ``validate`` checks each: ``validate_name`` for a name the state may create, ``validate_existing_name`` for the
    states that only act on a lock that is there, whoever named it (a shared pool's ``head`` or ``-x``).
    """
    name = params.get('name')
    if name is None:
        return []
    names = name if isinstance(name, list) else [name]
    if len(names) != 1 and not several:
        raise InvalidInputError('name must be a single lock with state %s' % state)
    return [validate('lock', each) for each in names]


def _lease(value):
    if value is None:
        return None
    lease = parse_duration(value, 'lease')
    if lease <= 0:
        raise InvalidInputError('lease must be longer than 0s, got %r' % (value,))
    return lease


# -- the operations ----------------------------------------------------------------------

_STATE_OF_OPTION = dict(dirty='released', dirty_reason='released', reset='claimed')  # options that only one state has


class Operation(object):
    """What every operation has. The transaction calls look_outside, decide, before_wait and push_also;
    execute calls finish and result. ``required`` are the options the state needs, ``metric`` its label."""

    state = None
    required = ('name',)
    metric = None
    keep_renewed = False  # a Claim told to keep its lease renewed runs under keep_renewed(), not execute()

    def __init__(self, request, params):
        self.request = request
        for option, state in _STATE_OF_OPTION.items():
            if params.get(option) and self.state != state:
                raise InvalidInputError('%s is an option of state %s, not of state %s' % (option, state, self.state))

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

    def finish(self, cache, outcome):
        """The run on ``cache`` is over (``outcome`` None when it failed)."""

    def refs_refused(self, decision):
        """The server refused the refs of ``decision`` (a change outside the branch only)."""
        raise PushRejectedError('the lock repository refused a push of refs outside the branch: %s'
                                % ', '.join(refspec.rpartition(':')[2] for refspec in decision.refs))

    def undo(self, decision, snapshot, commit):
        """The operation that gives back what ``decision`` did, when a task stopped as it landed; None: keep it."""
        return None

    def goes_on(self, decision):
        """Whether ``decision``, which landed, was a first step in a commit of its own: execute then runs the operation again."""
        return False

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
        self.notes = []

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
        if lock_file.state == CLAIMED:  # the holder's update keeps its claim: token, lease and holder are the claim commit's
            holder = _holder_of(snapshot, lock_file)
            if not (request.holder_given and holder == request.holder):
                return transaction.wait([lock_file], "lock '%s' in pool '%s' is claimed by %s; its metadata is updated once it is released"
                                        % (self.name, request.pool, holder or 'another holder'), before)
        return transaction.change([lock_file], [Write(lock_file.path, self.data, lock_file.mode)], request.message('update', self.name),
                                  request.holder, before, _view(request.pool, [self.name], lock_file.state, metadata=metadata_text(self.data)))

    def _add(self, snapshot):
        request = self.request
        pool = _pool_or_none(snapshot, request.pool)
        self.notes = self._unreadable_by_concourse(pool)
        if pool is None and not request.check_mode:
            # A new pool's .gitkeep files come first, in a commit of their own: Concourse's `in` takes for the lock a
            # commit is about the first path it added, in git's order, and <pool>/claimed/.gitkeep comes before any lock.
            return transaction.change([], new_pool_edits(request.pool), request.message('add_pool', request.pool), request.holder,
                                      _view(request.pool, [self.name], ABSENT), _view(request.pool, [self.name], ABSENT), found=_NEW_POOL)
        edits = [] if pool is not None else new_pool_edits(request.pool)  # check mode: both commits' edits, as one
        state = CLAIMED if self.claimed else UNCLAIMED
        edits.append(Write(lock_path(request.pool, state, self.name), self.data or b'', FILE_MODE))
        placeholder = LockFile(request.pool, self.name, state, None, FILE_MODE)
        return transaction.change([placeholder], edits, request.message('add_claimed' if self.claimed else 'add', self.name),
                                  request.holder, _view(request.pool, [self.name], ABSENT),
                                  _view(request.pool, [self.name], state, request.holder if self.claimed else None,
                                        metadata_text(self.data or b'')))

    def _unreadable_by_concourse(self, pool):
        """Warnings about a name of the new lock (or pool) that Concourse's ``in`` cannot read; refused outright in a pool
        where Concourse writes (a pipeline that claimed such a lock could not release it)."""
        names = [('lock', self.name)] + ([('pool', self.request.pool)] if pool is None else [])
        unreadable = [(kind, name, concourse_unreadable(name)) for kind, name in names if concourse_unreadable(name)]
        if unreadable and pool is not None and pool.shows_concourse():
            kind, name, why = unreadable[0]
            raise InvalidInputError("cannot add lock %r to pool '%s', which Concourse writes to (its lock files are executable): "
                                    "%s, so a pipeline that claimed it could not release it" % (name, pool.name, why))
        return ["%s name %r: %s; a Concourse pipeline that claimed the lock could not release it, so do not share pool '%s' "
                "with Concourse" % (kind, name, why, self.request.pool) for kind, name, why in unreadable]

    def goes_on(self, decision):
        return decision.found == _NEW_POOL

    def warnings(self):
        return self.notes

    def result(self, decision, snapshot, commit):
        found = super(Present, self).result(decision, snapshot, commit)
        if found['lock']['state'] == ABSENT:  # check mode: the lock as it would be added
            found['lock']['state'] = decision.after['state']
        return found


_NEW_POOL = 'new pool'  # the ``found`` of Present's first step into a pool that does not exist: its skeleton


def _pool_or_none(snapshot, pool):
    """The Pool named ``pool``, or None when the branch has no such pool."""
    try:
        return snapshot.pool(pool)
    except PoolNotFoundError:
        return None


class Absent(Operation):
    """Remove the lock, claimed or not; a claimed one only by its holder (or with force)."""

    state = 'absent'
    metric = 'remove_lock'

    def __init__(self, request, params):
        super(Absent, self).__init__(request, params)
        self.name = _names(params, self.state, validate=validate_existing_name)[0]

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
        names = _names(params, self.state, several=True, validate=validate_existing_name)
        for name in names:  # whatever a claim takes, its release can give back
            if unclaimable(name):
                raise InvalidInputError('cannot claim lock %r: %s' % (name, unclaimable(name)))
        self.selection = Selection(names, params.get('count'), params.get('match'))
        self.lease = _lease(params.get('lease'))
        self.tokens = parse_token_option(params.get('token'), names)
        self.fair = params.get('fair', True)
        self.clock = clock
        self.waiter = None
        self.renew_by_commit = False  # once the server refused the lease's renewal refs
        self.expired_renewals = []  # the renewal refs of the expired claims the last decision takes over
        self.notes = []
        self.params = params
        self.keep_renewed = params.get('keep_renewed', False)
        if self.keep_renewed and (self.lease is None or not names or set(self.tokens) != set(names)):
            raise InvalidInputError('keep_renewed needs the lease, the name of each lock held and its token, as the claim returned them')
        self.reset = params.get('reset', False)  # claim dirty locks, to reset them (_dirty)
        self.fair = self.fair and not self.keep_renewed and not self.reset  # its locks are held, or it wants dirty ones: it never queues

    @classmethod
    def metric_label(cls, params, decision):
        if params.get('reset'):
            return 'reset_lock'
        return 'claim_lock' if params['name'] else 'acquire_lock'

    def look_outside(self, cache):
        """How many locks the fair queue's earlier waiters want; None when the claim is not fair."""
        if self.fair and self.waiter is None:
            self.waiter = FairWaiter(cache, self.request.pool, self.selection.count, clock=self.clock)
        if not self.fair or self.waiter.refused:
            return None
        return self.waiter.wanted_ahead()

    def decide(self, snapshot, outside):
        """``outside``: how many locks the fair queue's earlier waiters want (None: not fair).

        A claimed lock whose lease has run out is free: the claim takes it over (``_claim``).
        """
        request, pool, wanted_ahead, now = self.request, snapshot.pool(self.request.pool), outside, self.clock()
        if self.reset:
            return self._decide_reset(snapshot, pool, now)
        if self.selection.names:
            lock_files = [existing_lock(snapshot, request.pool, name) for name in self.selection.names]
            for lock_file in lock_files:  # a token says this is a renewal: of a claim that must still be current
                if lock_file.name in self.tokens:
                    self._check_renewable(snapshot, lock_file, now)
            dirty = [lock_file for lock_file in lock_files if dirty_of(snapshot, lock_file) and lock_file.name not in self.tokens]
            if dirty:  # not handed out, even to whoever left it dirty, until a reset (which has the token) releases it
                return self._wait(lock_files, wanted_ahead, '%s; it is handed out again once it is reset' % _dirty_text(snapshot, dirty[0]))
            claimed = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED and lock_file.name not in self.tokens
                       and lease_has_expired(snapshot, lock_file, now)]  # taken over, even one's own: a new claim
            others = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED and lock_file not in claimed
                      and not _held_by_requester(request, snapshot, lock_file)]
            if others:
                return self._wait(lock_files, wanted_ahead, "lock '%s' in pool '%s' is claimed by %s"
                                  % (others[0].name, request.pool, _holder_of(snapshot, others[0]) or 'another holder'), snapshot, others)
            free = [lock_file for lock_file in lock_files if lock_file.state == UNCLAIMED] + claimed
            if not free:
                return self._renewal(snapshot, lock_files)
        else:
            free = [lock_file for lock_file in (pool.find(name) for name in pool.claimable())
                    if self.selection.accepts(snapshot, lock_file)]
            if len(free) < self.selection.count:  # only then are claims looked at, for leases that ran out
                free += [lock_file for lock_file in claimed_only(pool) if lease_has_expired(snapshot, lock_file, now)
                         and dirty_of(snapshot, lock_file) is None and self.selection.accepts(snapshot, lock_file)]
            if len(free) < self.selection.count:
                return self._wait([], wanted_ahead, self.selection.shortage(request.pool), snapshot, claimed_only(pool))
            lock_files = free = random.sample(free, self.selection.count)
        takeable = len(pool.claimable()) + sum(1 for lock_file in free if lock_file.state == CLAIMED)
        if wanted_ahead is not None and takeable - len(free) < wanted_ahead:
            return self._wait(lock_files, wanted_ahead, 'earlier waiters of the fair queue want %d lock%s of pool %s first'
                              % (wanted_ahead, '' if wanted_ahead == 1 else 's', request.pool))
        return self._claim(snapshot, lock_files, free)

    def _decide_reset(self, snapshot, pool, now):
        """Claim dirty locks to reset them: the named ones, or ``count`` of the pool's. A dirty lock that a reset holds is
        taken over once that claim's lease runs out; a named lock that is not dirty (any more) is left alone."""
        request = self.request
        if self.selection.names:
            lock_files = [existing_lock(snapshot, request.pool, name) for name in self.selection.names]
            for lock_file in lock_files:
                if lock_file.name in self.tokens:
                    self._check_renewable(snapshot, lock_file, now)
            if not all(dirty_of(snapshot, lock_file) for lock_file in lock_files):
                return transaction.nothing(lock_files, _view(request.pool, self.selection.names, UNCLAIMED))
            held = [lock_file for lock_file in lock_files if dirty_of(snapshot, lock_file).resetting
                    and not lease_has_expired(snapshot, lock_file, now)]
            others = [lock_file for lock_file in held if lock_file.name not in self.tokens and not _held_by_requester(request, snapshot, lock_file)]
            if others:
                return self._wait(lock_files, None, "dirty lock '%s' in pool '%s' is being reset by %s"
                                  % (others[0].name, request.pool, _holder_of(snapshot, others[0]) or 'another holder'), snapshot, others)
            free = [lock_file for lock_file in lock_files if lock_file not in held]
            if not free:
                return self._renewal(snapshot, lock_files)
        else:
            dirty = inventory.dirty_locks(snapshot, pool)
            free = [lock_file for lock_file in dirty if self.selection.accepts(snapshot, lock_file)
                    and (not dirty_of(snapshot, lock_file).resetting or lease_has_expired(snapshot, lock_file, now))]
            if len(free) < self.selection.count:
                return self._wait([], None, 'no dirty lock of pool %s is waiting for a reset' % request.pool, snapshot, dirty)
            lock_files = free = random.sample(free, self.selection.count)
        return self._claim(snapshot, lock_files, free)

    def _check_renewable(self, snapshot, lock_file, now):
        """Refuse to renew a claim that is over: no longer the token's, or its lease ran out (it is free then)."""
        _check_not_released_dirty(snapshot, lock_file, self.tokens[lock_file.name], 'renew')
        check_token(snapshot, lock_file, self.tokens[lock_file.name], 'renew', _holder_of)
        if lease_has_expired(snapshot, lock_file, now):
            raise NotHolderError("cannot renew lock '%s' in pool '%s' with token %d: its lease ran out at %s, so the lock is free"
                                 % (lock_file.name, lock_file.pool, self.tokens[lock_file.name], utc_text(lease_expiry(snapshot, lock_file))))

    def _claim(self, snapshot, lock_files, free):
        """Claim ``free`` (the unclaimed ones of ``lock_files``, and claimed ones whose lease ran out) with a new token
        each, and the lease if any. A claim whose lease ran out is taken over by a trailer that says so: its file
        stays where it is, and this commit becomes the lock's claim (_snapshot.Snapshot.added_by)."""
        request = self.request
        trailers = [token_trailer(request.pool, lock_file.name, _latest_token(snapshot, request.pool, lock_file.name) + 1)
                    for lock_file in free]
        trailers += self._lease_trailers(free)
        if request.job:
            trailers += [job_systems.job_trailer(lock_id(request.pool, lock_file.name), request.job) for lock_file in free]
        if self.reset:  # the claim in force of each dirty lock becomes the reset's, the lock still dirty
            trailers += [resetting_trailer(request.pool, lock_file.name, dirty_of(snapshot, lock_file)) for lock_file in free]
        else:
            trailers += [takeover_trailer(request.pool, lock_file.name, current_token(snapshot, lock_file), lease_expiry(snapshot, lock_file))
                         for lock_file in free if lock_file.state == CLAIMED]
        edits = [Move(lock_file, lock_path(request.pool, CLAIMED, lock_file.name)) for lock_file in free if lock_file.state == UNCLAIMED]
        self.expired_renewals = [ref for lock_file in free if lock_file.state == CLAIMED
                                 for ref in renewal_refs(snapshot, lock_file, current_token(snapshot, lock_file))]
        names = [lock_file.name for lock_file in free]
        if self.reset:
            return transaction.change(lock_files, edits, request.message('reset', names_subject(free), trailers), request.holder,
                                      _view(request.pool, names, DIRTY), _view(request.pool, names, DIRTY, request.holder))
        return transaction.change(lock_files, edits, request.message('claim', names_subject(free), trailers), request.holder,
                                  _view(request.pool, names, UNCLAIMED), _view(request.pool, names, CLAIMED, request.holder))

    def _lease_trailers(self, lock_files):
        if self.lease is None:
            return []
        return [lease_trailer(self.request.pool, lock_file.name, self.clock() + self.lease) for lock_file in lock_files]

    def _renewal(self, snapshot, lock_files):
        """Renew the lease of locks the requester holds: refs outside the branch, or where the server refused them
        (or a claim has no token: Concourse's), a commit that changes no file."""
        request = self.request
        view = _view(request.pool, [lock_file.name for lock_file in lock_files], CLAIMED, request.holder)
        if self.lease is None:
            return transaction.nothing(lock_files, view)
        tokens = [current_token(snapshot, lock_file) for lock_file in lock_files]
        if self.renew_by_commit or None in tokens:
            return transaction.change(lock_files, [], request.message('renew', names_subject(lock_files), self._lease_trailers(lock_files)),
                                      request.holder, view, view)
        refs = [refspec for lock_file, token in zip(lock_files, tokens)
                for refspec in renewal_refspecs(snapshot, lock_file, token, self.clock() + self.lease)]
        return transaction.change_refs(lock_files, refs, view, view)

    def again(self):
        """The same claim made anew (the next renewal of ``keep_renewed``)."""
        made = Claim(self.request, self.params, self.clock)  # a reset's renewal too: it names its locks with their tokens
        made.renew_by_commit = self.renew_by_commit
        return made

    def forget_renewals(self, cache, result):
        """Delete the renewal refs of this claim, which is over; returns ``result``."""
        renewals = read_renewals(cache, self.request.pool)
        forget_refs(cache, [ref for name, token in self.tokens.items() for _expires, ref in renewals.get((name, token), [])])
        return result

    def still_held(self, cache):
        """Whether the cache's branch still has the claims of ``tokens`` (read in process, no network)."""
        snapshot = Snapshot(cache, cache.local_head())
        try:
            pool = snapshot.pool(self.request.pool)
        except PoolNotFoundError:
            return False
        return all(lock_file is not None and current_token(snapshot, lock_file) == token
                   for lock_file, token in ((pool.find(name), token) for name, token in self.tokens.items()))

    def refs_refused(self, decision):
        self.renew_by_commit = True
        self.notes.append('the lock repository refused the lease renewal refs under %s, so the lease of %s was renewed by a commit '
                          'on the branch' % (LEASE_REFS, names_subject(decision.locks)))

    def undo(self, decision, snapshot, commit):
        """A claim that landed as its task stopped is released again, with the tokens it got (a renewal is kept)."""
        if commit is None:
            return None
        names = [lock_file.name for lock_file in decision.locks]
        lock_files = [snapshot.pool(self.request.pool).find(name) for name in names]
        tokens = dict((lock_file.name, current_token(snapshot, lock_file)) for lock_file in lock_files)
        request = Request(self.request.pool, self.request.holder, holder_given=True, team=self.request.team, wait=False, timeout=60)
        params = dict(name=names, token=dict((name, token) for name, token in tokens.items() if token is not None))
        if self.reset:  # a reset that never ran leaves its locks dirty, for the reason they were
            params.update(dirty=True, dirty_reason=dirty_of(snapshot, lock_files[0]).reason)
        return Release(request, params)

    def _wait(self, lock_files, wanted_ahead, reason, snapshot=None, blocking=()):
        """A wait; a fair one decides again every RECHECK_EVERY seconds, for the queue changes outside the branch, and
        any one as soon as the first lease of the ``blocking`` claims runs out (that moves no branch either)."""
        now = self.clock()
        rechecks = [RECHECK_EVERY] if wanted_ahead is not None else []
        rechecks += [expiry - now + LEASE_RECHECK_MARGIN for expiry in (next_expiry(snapshot, lock_file, now) for lock_file in blocking)
                     if expiry is not None]
        return transaction.wait(lock_files, reason, recheck_after=max(min(rechecks), LEASE_RECHECK_MARGIN) if rechecks else None)

    def before_wait(self, head):
        return self.waiter.before_wait(head) if self.waiter is not None else None

    def push_also(self):
        return self.waiter.departure() if self.waiter is not None else ()

    def finish(self, cache, outcome):
        if outcome is not None and outcome.commit and self.expired_renewals:  # the claims it took over: their renewals go too
            forget_refs(cache, self.expired_renewals)
        if self.waiter is not None:
            if outcome is not None and outcome.commit:
                self.waiter.departed()
            self.waiter.leave()

    def warnings(self):
        return self.notes + ([self.waiter.refused] if self.waiter is not None and self.waiter.refused else [])

    def result(self, decision, snapshot, commit):
        found = super(Claim, self).result(decision, snapshot, commit)
        held = DIRTY if self.reset else CLAIMED  # a lock claimed to reset it is dirty until its reset's release
        found['acquired'] = decision.kind != transaction.WAIT and all(lock['state'] == held for lock in found['locks'])
        would_claim = self.request.check_mode and decision.kind == transaction.CHANGE  # check mode names what it would claim
        if not found['acquired'] and not self.selection.names and not would_claim:
            found.update(lock=None, locks=[])
        return found


class Release(Operation):
    """Release the named locks in one commit; with ``token``, only while those claims are current.

    Released ``dirty``, the locks stay taken until a reset releases them (_dirty): a commit that changes no file. A
    dirty lock is released (marked clean) only by its reset's claim, or with ``force``.
    """

    state = 'released'
    metric = 'release_lock'

    def __init__(self, request, params):
        super(Release, self).__init__(request, params)
        self.names = _names(params, self.state, several=True, validate=validate_existing_name)
        self.tokens = parse_token_option(params.get('token'), self.names)
        self.dirty = params.get('dirty', False)
        self.reason = params.get('dirty_reason') if self.dirty else None
        if params.get('dirty_reason') and not self.dirty:
            raise InvalidInputError('dirty_reason is the reason of a release with dirty: true')

    @classmethod
    def metric_label(cls, params, decision):
        return 'release_dirty_lock' if params.get('dirty') else cls.metric

    def decide(self, snapshot, outside):
        request = self.request
        lock_files = [existing_lock(snapshot, request.pool, name) for name in self.names]
        done = [lock_file for lock_file in lock_files if self._already_released_dirty(snapshot, lock_file)]
        for lock_file in lock_files:
            if lock_file.name in self.tokens and lock_file not in done:
                _check_not_released_dirty(snapshot, lock_file, self.tokens[lock_file.name], 'release')
                check_token(snapshot, lock_file, self.tokens[lock_file.name], 'release', _holder_of)
        claimed = [lock_file for lock_file in lock_files if lock_file.state == CLAIMED and lock_file not in done]
        if not claimed:
            return transaction.nothing(lock_files, _view(request.pool, self.names, DIRTY if self.dirty else UNCLAIMED))
        for lock_file in claimed:
            _check_owner(request, snapshot, lock_file, 'release')
            self._check_clean_release(snapshot, lock_file)
        names = [lock_file.name for lock_file in claimed]
        before = _view(request.pool, names, DIRTY if dirty_of(snapshot, claimed[0]) else CLAIMED, _holder_of(snapshot, claimed[0]))
        if self.dirty:
            trailers = [trailer for lock_file in claimed for trailer in dirty_trailers(
                request.pool, lock_file.name, current_token(snapshot, lock_file), self.reason, request.job or _job_of(snapshot, lock_file))]
            return transaction.change(lock_files, [], request.message('release_dirty', names_subject(claimed), trailers), request.holder,
                                      before, _view(request.pool, names, DIRTY, request.holder))
        edits = [Move(lock_file, lock_path(request.pool, UNCLAIMED, lock_file.name)) for lock_file in claimed]
        return transaction.change(lock_files, edits, request.message('release', names_subject(claimed)), request.holder,
                                  before, _view(request.pool, names, UNCLAIMED))

    def _already_released_dirty(self, snapshot, lock_file):
        """A dirty release asked again of the claim (its token) that it already released dirty: nothing to do."""
        return self.dirty and lock_file.name in self.tokens and _released_dirty(snapshot, lock_file, self.tokens[lock_file.name])

    def _check_clean_release(self, snapshot, lock_file):
        """A dirty lock that no reset holds is marked clean only with force: releasing it hands out a broken environment."""
        dirty = dirty_of(snapshot, lock_file)
        if dirty is not None and not dirty.resetting and not self.dirty and not self.request.force:
            raise NotHolderError('cannot release lock %r in pool %r: %s; it is released once it is reset (claim it with reset: true, '
                                 'then release that claim), or with force' % (lock_file.name, lock_file.pool, _dirty_text(snapshot, lock_file)))


def _dirty_text(snapshot, lock_file):
    """What a wait or a refusal says of a dirty lock: who left it dirty, when, and why."""
    dirty = dirty_of(snapshot, lock_file)
    text = "lock '%s' in pool '%s' is dirty since %s, released so by %s" % (lock_file.name, lock_file.pool, dirty.at, dirty.by or 'an unknown holder')
    text += ' (%s)' % dirty.reason if dirty.reason else ''
    if dirty.resetting:
        text += ', and %s is resetting it' % (_holder_of(snapshot, lock_file) or 'another holder')
    return text


def _check_not_released_dirty(snapshot, lock_file, token, action):
    """Refuse, saying so, to ``action`` with ``token`` a claim that was released dirty (its token is no one's now)."""
    if _released_dirty(snapshot, lock_file, token):
        raise NotHolderError("cannot %s lock '%s' in pool '%s' with token %d: that claim is over, it was released dirty"
                             % (action, lock_file.name, lock_file.pool, token))


def _job_of(snapshot, lock_file):
    """The job of the claim in force of ``lock_file`` as a Lock-Job trailer names it (``awx 1234``), or None."""
    claim = snapshot.added_by(lock_file.path)
    return job_systems.job_text(claim.message, claim.author, lock_id(lock_file.pool, lock_file.name)) if claim else None


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
        carried = max(_latest_token(snapshot, request.pool, name), _latest_token(snapshot, to_pool, name))
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

    A dirty lock is never stale: it stays taken until it is reset (_dirty).
    A claim is stale when its lease has expired, when the system that runs its job (AWX, Concourse: given by their
    URL options) says that job is over, or (with ``older_than``) when it was made longer ago than that. A claim
    without a lease, Concourse's included, is only reaped by its job's end or by age. The job systems are asked
    outside the cache lock (``look_outside``, see _job_systems) and what they said is handed to ``decide``; a claim
    whose system cannot tell is not released for its job, and the result says so (``unknown``). The release is one
    ``unclaiming: a, b`` commit (Concourse's subject) with a ``Lock-Reaped`` trailer per lock saying why.
    """

    state = 'reaped'
    required = ()
    metric = 'reap_locks'

    def __init__(self, request, params, clock=time.time, transport=None):
        super(Reap, self).__init__(request, params)
        self.older_than = parse_duration(params['older_than'], 'older_than') if params.get('older_than') is not None else None
        self.clock = clock
        self.job_systems = job_systems.JobSystems.from_params(params, transport)
        self.answers = {}  # what look_outside returned last: {lock name: job_systems.Answer}
        self.unknown = []  # the claims kept because their job's system could not tell, as result() reports them

    def look_outside(self, cache):
        """{lock name: Answer} for each claim of the pool (the team's) whose job's system was given; None when none was.

        The claims are read from the cache's branch (fresh: the transaction fetches before a decision it does not make
        on the cache). A cache that cannot be read asks nothing: the decision, under the cache lock, heals it or fails.
        """
        if not self.job_systems:
            return None
        refs = []
        try:
            with cache.damage_guard():
                for lock_file, claim in self._claims(Snapshot(cache, cache.local_head())):
                    ref = job_systems.job_ref(claim.message, claim.author, lock_id(lock_file.pool, lock_file.name))
                    if ref is not None:
                        refs.append((lock_file.name, ref, claim.sha))
        except LockpoolError:
            refs = []
        answers = dict((name, self.job_systems.ask(ref, claim)) for name, ref, claim in refs)
        self.answers = dict((name, answer) for name, answer in answers.items() if answer is not None)
        return self.answers

    def _claims(self, snapshot):
        """(lock file, claim commit) of every claimed lock of the pool; only those claimed for ``request.team`` when given."""
        pool = snapshot.pool(self.request.pool)
        for lock_file in _reapable(snapshot, pool):
            claim = snapshot.added_by(lock_file.path)
            event = parse_message(claim.message, claim.author) if claim else None
            if claim is not None and (self.request.team is None or (event is not None and event.team == self.request.team)):
                yield lock_file, claim

    def decide(self, snapshot, outside):
        """``outside``: {lock name: Answer} of the claims whose job a system was asked about (None: none was)."""
        request = self.request
        pool = snapshot.pool(request.pool)
        now = self.clock()
        stale = [found for found in (self._staleness(snapshot, lock_file, now, outside or {}) for lock_file in _reapable(snapshot, pool))
                 if found is not None and (request.team is None or found['team'] == request.team)]
        if not stale:
            return transaction.nothing([], found=[])
        lock_files = [pool.claimed[found['name']] for found in stale]
        names = [found['name'] for found in stale]
        edits = [Move(lock_file, lock_path(request.pool, UNCLAIMED, lock_file.name)) for lock_file in lock_files]
        trailers = [lock_trailer(TRAILER_REAPED, lock_id(request.pool, found['name']), found['reason']) for found in stale]
        return transaction.change(lock_files, edits, request.message('release', ', '.join(names), trailers), request.holder,
                                  _view(request.pool, names, CLAIMED), _view(request.pool, names, UNCLAIMED), found=stale)

    def _staleness(self, snapshot, lock_file, now, answers):
        """Why the claim of ``lock_file`` is stale ('lease-expired', 'job-finished' or 'older-than'), with what we know
        of it (its ``job`` and ``job_status`` too when its system was asked); None if it is not."""
        claim = snapshot.added_by(lock_file.path)
        event = parse_message(claim.message, claim.author) if claim else None
        expiry = lease_expiry(snapshot, lock_file)
        found = dict(name=lock_file.name, holder=event.holder if event else None, team=event.team if event else None,
                     claimed_at=utc_text(claim.time) if claim else None, token=current_token(snapshot, lock_file),
                     expires_at=utc_text(expiry) if expiry is not None else None)
        answer = answers.get(lock_file.name)
        if answer is not None and (claim is None or answer.claim != claim.sha):
            answer = None  # said of an earlier claim of the lock, not of this one
        if answer is not None:
            found.update(job=answer.job, job_status=answer.status)
        if expiry is not None and expiry <= now:
            return dict(found, reason='lease-expired')
        if answer is not None and answer.finished:
            return dict(found, reason='job-finished')
        if self.older_than is not None and claim is not None and claim.time <= now - self.older_than:
            return dict(found, reason='older-than')
        return None

    def result(self, decision, snapshot, commit):
        released = set(found['name'] for found in decision.found)
        self.unknown = [dict(name=name, job=answer.job, system=answer.system, why=answer.why)
                        for name, answer in sorted(self.answers.items()) if answer.finished is None and name not in released]
        return dict(released=decision.found, unknown=self.unknown)

    def warnings(self):
        return ["cannot tell whether the job of lock '%s' in pool '%s' (%s) still runs, so it was not released for that: %s"
                % (entry['name'], self.request.pool, entry['job'], entry['why']) for entry in self.unknown]


def _reapable(snapshot, pool):
    """The claimed locks of ``pool`` that a reap may release: not the dirty ones, which only a reset makes clean."""
    return [lock_file for lock_file in claimed_only(pool) if not dirty_of(snapshot, lock_file)]


# pool_lock's states; pool_reap runs Reap.
OPERATIONS = dict((operation.state, operation) for operation in (Claim, Release, Present, Absent, MoveLock))

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock operations: the Concourse ``out`` step's semantics, made idempotent and safe.

Each operation is a ``decide`` function for the transaction loop. A holder that
was named by the caller (``holder_given``) is compared with the holder recorded
in the repository: re-claiming one's own lock is a no-op and releasing someone
else's lock is refused unless ``force``. A holder that was only defaulted is
never taken for another run's: such a claim of a claimed lock waits, and such a
release behaves like Concourse's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    InvalidInputError,
    NotHolderError,
    PoolNotFoundError,
)
from ansible_collections.lockpool.git.plugins.module_utils._inventory import ABSENT
from ansible_collections.lockpool.git.plugins.module_utils._layout import (
    CLAIMED,
    FILE_MODE,
    UNCLAIMED,
    Delete,
    LockFile,
    Write,
    lock_path,
    new_pool_edits,
)
from ansible_collections.lockpool.git.plugins.module_utils._message import format_message
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_text
from ansible_collections.lockpool.git.plugins.module_utils._names import validate_name

_HOLDER_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>]')


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

    def message(self, operation, name, trailers=None):
        return format_message(operation, name, self.holder, self.team, self.pool, trailers)


def _validate_label(kind, value):
    if not value or _HOLDER_FORBIDDEN.search(value) or len(value) > 256:
        raise InvalidInputError('%s must be 1 to 256 characters without control characters or <>, got %r' % (kind, value))
    return value


# -- what the repository says about a lock -------------------------------------------

def _holder_of(snapshot, lock_file):
    found = inventory.origin(snapshot, lock_file)
    return found.holder if found else None


def _diff_view(state, metadata, holder=None):
    return dict(state=state, metadata=metadata, holder=holder)


def _check_owner(request, snapshot, lock_file, action):
    """Refuse to ``action`` a claimed lock that the named holder does not hold."""
    if lock_file.state != CLAIMED or not request.holder_given or request.force:
        return
    current = _holder_of(snapshot, lock_file)
    if current != request.holder:
        raise NotHolderError(
            "cannot %s lock '%s' in pool '%s': it is held by %s, not by %s (use force to override)"
            % (action, lock_file.name, request.pool, current or 'an unknown holder', request.holder))


# -- decisions --------------------------------------------------------------------

def present_decider(request, name, data, claimed=False):
    """Add the lock (claimed or not) or update its metadata; ``data`` None keeps what is there."""
    validate_name('lock', name)

    def decide(snapshot):
        try:
            lock_file = snapshot.pool(request.pool).find(name)
            edits = []
        except PoolNotFoundError:
            lock_file = None
            edits = new_pool_edits(request.pool)
        new_text = metadata_text(data or b'') if data is not None else None
        if lock_file is None:
            state = CLAIMED if claimed else UNCLAIMED
            path = lock_path(request.pool, state, name)
            edits.append(Write(path, data or b'', FILE_MODE))
            placeholder = LockFile(request.pool, name, state, None, FILE_MODE)
            return transaction.change(placeholder, edits, request.message('add_claimed' if claimed else 'add', name),
                                      request.holder, _diff_view(ABSENT, None),
                                      _diff_view(state, new_text or '', request.holder if claimed else None))
        current = snapshot.read(lock_file)
        before = _diff_view(lock_file.state, metadata_text(current))
        if data is None or current == data:
            return transaction.nothing(lock_file, before)
        if lock_file.state == CLAIMED:
            holder = _holder_of(snapshot, lock_file)
            if not (request.holder_given and holder == request.holder):
                return transaction.wait(lock_file, "lock '%s' in pool '%s' is claimed by %s; its metadata is updated once it is released"
                                        % (name, request.pool, holder or 'another holder'), before)
        return transaction.change(lock_file, [Write(lock_file.path, data, lock_file.mode)], request.message('update', name),
                                  request.holder, before, _diff_view(lock_file.state, new_text))
    return decide


def absent_decider(request, name):
    validate_name('lock', name)

    def decide(snapshot):
        try:
            lock_file = snapshot.pool(request.pool).find(name)
        except PoolNotFoundError:
            lock_file = None
        if lock_file is None:
            return transaction.nothing(None, _diff_view(ABSENT, None))
        _check_owner(request, snapshot, lock_file, 'remove')
        before = _diff_view(lock_file.state, metadata_text(snapshot.read(lock_file)))
        return transaction.change(lock_file, [Delete(lock_file.path)], request.message('remove', name),
                                  request.holder, before, _diff_view(ABSENT, None))
    return decide


# -- running one ------------------------------------------------------------------

def execute(cache, request, decide, name=None, observer=None):
    """Run a decider and turn its outcome into the module's result fields; ``observer``: a transaction.Observer."""
    outcome = transaction.run(cache, decide, check_mode=request.check_mode, wait_for_lock=request.wait,
                              timeout=request.timeout, poll_interval=request.poll_interval, observer=observer)
    decision = outcome.decision
    changed = decision.kind == transaction.CHANGE
    lock_file = decision.lock
    if outcome.commit is not None:
        snapshot = Snapshot.after_push(cache, outcome)
        lock_file = _locate(snapshot, request.pool, lock_file.name)
    else:
        snapshot = outcome.snapshot
    if observer is not None:
        observer.finished(decision, snapshot)
    if lock_file is None or lock_file.sha is None:
        lock = inventory.absent_lock(request.pool, name if lock_file is None else lock_file.name)
        if lock_file is not None:
            lock['state'] = decision.after['state']
    else:
        lock = inventory.describe(snapshot, lock_file)
    return dict(
        changed=changed,
        lock=lock,
        waiting_for=decision.reason if decision.kind == transaction.WAIT else None,
        attempts=outcome.races,
        waited=round(outcome.waited, 3),
        commit=outcome.commit,
        diff=dict(before=_render(decision.before), after=_render(decision.after),
                  before_header=lock_path(request.pool, (decision.before or {}).get('state') or ABSENT, lock['name'] or ''),
                  after_header=lock_path(request.pool, (decision.after or {}).get('state') or ABSENT, lock['name'] or '')),
    )


def _locate(snapshot, pool, name):
    try:
        return snapshot.pool(pool).find(name)
    except PoolNotFoundError:
        return None


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

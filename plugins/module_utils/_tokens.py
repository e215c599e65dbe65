# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing tokens: a number per claim of a lock, strictly greater than every earlier claim's.

A claim commit records ``Lock-Token: <pool>/<lock> <n>`` (one trailer per lock it
claims); ``n`` is one more than the newest token recorded on any commit that
claimed that lock, so tokens grow along the branch's history, which is
linear because every push is a fast-forward. A claim made by Concourse records no
token and does not interrupt the sequence: the next claim continues from the last
recorded one. A lock moved to another pool carries the larger of the two pools'
sequences, so its next claim there is greater than every earlier claim in either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, NotHolderError
from ansible_collections.lockpool.git.plugins.module_utils._layout import STATES, lock_path
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, lock_trailer_pattern, lock_trailer_value

TRAILER_TOKEN = 'Lock-Token'


def lock_id(pool, name):
    """How per-lock trailers name a lock: ``pool/lock`` (neither may contain a slash)."""
    return '%s/%s' % (pool, name)


def token_trailer(pool, name, token):
    return lock_trailer(TRAILER_TOKEN, lock_id(pool, name), token)


def _recorded_token(message, pool, name):
    value = lock_trailer_value(message, TRAILER_TOKEN, lock_id(pool, name))
    return int(value) if value and value.isdigit() else None


def current_token(snapshot, lock_file):
    """The token of the claim that holds ``lock_file`` now; None when unclaimed or claimed without one (Concourse)."""
    if lock_file.state != 'claimed':
        return None
    claim = snapshot.added_by(lock_file.path)
    return _recorded_token(claim.message, lock_file.pool, lock_file.name) if claim else None


def latest_token(snapshot, pool, name, claims_without_files=()):
    """The newest token recorded for the lock ``pool/name`` at the snapshot, 0 when there is none.

    A token counts on a commit that touched the lock's files, or on one that claims the lock without touching them
    (a takeover of an expired claim, a reset's claim: it names the lock in one of the ``claims_without_files``
    trailers); a trailer on any other commit is someone's note, not a claim."""
    ident = lock_id(pool, name)
    paths = set(lock_path(pool, state, name) for state in STATES)
    walk = snapshot.cache.matching([snapshot.head], lock_trailer_pattern(TRAILER_TOKEN, ident))
    with contextlib.closing(walk):
        for commit in walk:
            if any(path in paths for _status, path in commit.changes) or \
                    any(lock_trailer_value(commit.message, key, ident) is not None for key in claims_without_files):
                return _recorded_token(commit.message, pool, name) or 0
    return 0


def parse_token_option(value, names):
    """The ``token`` option as {lock name: token}: one integer for one lock, or a mapping for several."""
    if value is None:
        return {}
    if isinstance(value, dict):
        tokens = value
    elif len(names) == 1:
        tokens = {names[0]: value}
    else:
        raise InvalidInputError('token must be a mapping of lock name to token when several locks are named')
    unknown = sorted(set(tokens) - set(names))
    if unknown:
        raise InvalidInputError('token names locks that are not in name: %s' % ', '.join(unknown))
    try:
        return dict((name, int(token)) for name, token in tokens.items())
    except (TypeError, ValueError):
        raise InvalidInputError('token must be an integer (the lock.token a claim returned), got %r' % (value,))


def check_token(snapshot, lock_file, expected, action, holder_of):
    """Refuse to ``action`` a lock whose current claim is not the one with token ``expected``; ``holder_of(snapshot,
    lock_file)`` names who holds it now, for the message."""
    current = current_token(snapshot, lock_file)
    if current != expected:
        holder = holder_of(snapshot, lock_file) if current is not None else None
        now = 'it is not claimed any more' if lock_file.state != 'claimed' else (
            'it is claimed again with token %s%s' % (current, ' by %s' % holder if holder else '') if current is not None
            else 'it is claimed again (by Concourse)')
        raise NotHolderError("cannot %s lock '%s' in pool '%s' with token %d: that claim is over, %s"
                             % (action, lock_file.name, lock_file.pool, expected, now))

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Leases: how long a claim is meant to last, recorded in commit trailers, never in lock files.

A claim with a lease records ``Lock-Lease-Expires: <pool>/<lock> <ISO 8601 UTC>``.
A renewal is a commit with no file change (subject ``renewing: <lock>``) that
records the new expiry: it moves the branch but touches no pool directory, so
Concourse's ``check`` does not see it and the lock's holder (read from the last
commit that changed the lock's file) stays the claim's. The lease in force is the
one recorded by the newest renewal made after the claim, else by the claim itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, lock_trailer_pattern, lock_trailer_value
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import parse_utc, utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import current_token, lock_id

TRAILER_LEASE = 'Lock-Lease-Expires'


def lease_trailer(pool, name, expires_at):
    return lock_trailer(TRAILER_LEASE, lock_id(pool, name), utc_text(int(expires_at)))


def lease_expiry(snapshot, lock_file):
    """When the lease of the claimed ``lock_file`` ends (epoch seconds), or None when its claim has no lease."""
    if lock_file.state != 'claimed':
        return None
    claim = snapshot.added_by(lock_file.path)
    if claim is None:
        return None
    ident = lock_id(lock_file.pool, lock_file.name)
    renewal = None
    if claim.sha != snapshot.head:  # a claim just made has had no renewal: no git run to learn that
        renewal = snapshot.cache.newest_commit(['%s..%s' % (claim.sha, snapshot.head)], (),
                                               lock_trailer_pattern(TRAILER_LEASE, ident))
    value = lock_trailer_value((renewal or claim).message, TRAILER_LEASE, ident)
    return parse_utc(value) if value else None


def lease_fields(snapshot, lock_file, now=None):
    """``expires_at`` and ``expired`` of a lock, as pool_lock and pool_lock_info return them."""
    expiry = lease_expiry(snapshot, lock_file)
    if expiry is None:
        return dict(expires_at=None, expired=False)
    return dict(expires_at=utc_text(expiry), expired=expiry <= (time.time() if now is None else now))


def claim_fields(snapshot, lock_file):
    """``token``, ``expires_at`` and ``expired`` of a lock's current claim (null and false when it is unclaimed)."""
    return dict(lease_fields(snapshot, lock_file), token=current_token(snapshot, lock_file))

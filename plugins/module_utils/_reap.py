# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reaping: the Pool Boy's job, built in. Releases the stale claims of a pool in one commit.

A claim is stale when its lease has expired, or (with ``older_than``) when it was
made longer ago than that. A claim without a lease, Concourse's included, is only
ever reaped by age. The release is one ``unclaiming: a, b`` commit (Concourse's
subject, readable by every parser) with a ``Lock-Reaped`` trailer per lock saying
why, decided and pushed like every other operation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._layout import UNCLAIMED, Move, lock_path
from ansible_collections.lockpool.git.plugins.module_utils._leases import lease_expiry
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, parse_message
from ansible_collections.lockpool.git.plugins.module_utils._inventory import utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import current_token, lock_id

TRAILER_REAPED = 'Lock-Reaped'


def _staleness(snapshot, lock_file, now, older_than):
    """Why the claim of ``lock_file`` is stale ('lease-expired' or 'older-than'), with what we know of it; None if it is not."""
    claim = snapshot.last_commit(lock_file.path)
    event = parse_message(claim.message, claim.author) if claim else None
    expiry = lease_expiry(snapshot, lock_file)
    found = dict(name=lock_file.name, holder=event.holder if event else None, team=event.team if event else None,
                 claimed_at=utc_text(claim.time) if claim else None, token=current_token(snapshot, lock_file),
                 expires_at=utc_text(expiry) if expiry is not None else None)
    if expiry is not None and expiry <= now:
        return dict(found, reason='lease-expired')
    if older_than is not None and claim is not None and claim.time <= now - older_than:
        return dict(found, reason='older-than')
    return None


def reap_decider(request, older_than=None, clock=time.time):
    """Release, in one commit, every claimed lock of the pool whose claim is stale; only ``request.team``'s when given."""

    def decide(snapshot):
        pool = snapshot.pool(request.pool)
        now = clock()
        stale = []
        for name in sorted(set(pool.claimed) - set(pool.unclaimed)):
            found = _staleness(snapshot, pool.claimed[name], now, older_than)
            if found is not None and (request.team is None or found['team'] == request.team):
                stale.append(found)
        if not stale:
            return transaction.nothing((), [])
        edits = [Move(pool.claimed[found['name']], lock_path(request.pool, UNCLAIMED, found['name'])) for found in stale]
        trailers = [lock_trailer(TRAILER_REAPED, lock_id(request.pool, found['name']), found['reason']) for found in stale]
        message = request.message('release', ', '.join(found['name'] for found in stale), trailers)
        return transaction.change(tuple(pool.claimed[found['name']] for found in stale), edits, message, request.holder, stale, [])

    return decide


def reap(cache, request, older_than=None):
    """Run a reap; the result lists each lock ``released`` (or that would be, in check mode) and why."""
    outcome = transaction.run(cache, reap_decider(request, older_than), check_mode=request.check_mode,
                              wait_for_lock=False, timeout=request.timeout, poll_interval=request.poll_interval)
    return dict(changed=outcome.decision.kind == transaction.CHANGE, released=outcome.decision.before,
                commit=outcome.commit, attempts=outcome.races)

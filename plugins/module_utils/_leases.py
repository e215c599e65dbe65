# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Leases: how long a claim is meant to last, and renewals that cost other claimers nothing.

A claim with a lease records ``Lock-Lease-Expires: <pool>/<lock> <ISO 8601 UTC>``.
A renewal is a ref outside the branch,
``refs/lockpool/leases/<branch>/<pool>/<lock>/<token>-<expires s>`` (names
percent-encoded as the fair queue's), pointing at the claim's commit: it never moves
the branch, so no claimer's push ever races with it, and Concourse never sees it.
It applies to the claim with that fencing token only, so a renewal that outlives its
claim means nothing. Where the server refuses such refs, a renewal is a commit with no
file change (subject ``renewing: <lock>``) that records the new expiry, as before.

The lease in force is the latest of: the claim's, the newest renewal commit's after the
claim, and the renewal refs of the claim's token. A claim whose lease has expired is
free: the next claim takes it over (see _operations.Claim). Expiry compares with the
reader's clock, so machines must agree on the time to within a renewal interval.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import re
import time
from urllib.parse import unquote

from ansible_collections.lockpool.git.plugins.module_utils._dirty import TRAILER_DIRTY, TRAILER_RESETTING
from ansible_collections.lockpool.git.plugins.module_utils._errors import RepositoryError
from ansible_collections.lockpool.git.plugins.module_utils._layout import claimed_lock
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, lock_trailer_pattern, lock_trailer_value, lock_trailer_values
from ansible_collections.lockpool.git.plugins.module_utils._queue import ref_component
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import parse_utc, utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import current_token, lock_id

TRAILER_LEASE = 'Lock-Lease-Expires'
TRAILER_TAKEOVER = 'Lock-Claim-Expired'  # a claim that took over an expired one: <pool>/<lock> <old token or -> <old expiry>
# The trailers of the commits that change no file and become a claimed lock's claim in force (_snapshot.Snapshot.added_by).
CLAIM_IN_FORCE_TRAILERS = (TRAILER_TAKEOVER, TRAILER_DIRTY, TRAILER_RESETTING)
LEASE_REFS = 'refs/lockpool/leases/'
_RENEWAL_NAME = re.compile(r'^(?P<lock>[^/]+)/(?P<token>\d+)-(?P<expires>\d+)$')


def lease_trailer(pool, name, expires_at):
    return lock_trailer(TRAILER_LEASE, lock_id(pool, name), utc_text(int(expires_at)))


def takeover_trailer(pool, name, old_token, old_expiry):
    return lock_trailer(TRAILER_TAKEOVER, lock_id(pool, name), '%s@%s' % ('-' if old_token is None else old_token, utc_text(int(old_expiry))))


def claim_in_force_pattern(pool=None, name=None):
    """The ``git log -E --grep`` pattern of a commit that becomes the claim in force of ``pool/name`` without moving its
    file: a takeover of an expired claim, a dirty release, or a reset's claim (CLAIM_IN_FORCE_TRAILERS); of any lock of
    ``pool`` when ``name`` is None, of any lock when ``pool`` is None too."""
    if name is not None:
        return '|'.join(lock_trailer_pattern(key, lock_id(pool, name)) for key in CLAIM_IN_FORCE_TRAILERS)
    prefix, lock_pattern = ('', '[^ /]+/[^ ]+') if pool is None else (pool + '/', '[^ ]+')
    return '|'.join(lock_trailer_pattern(key, prefix, lock_pattern) for key in CLAIM_IN_FORCE_TRAILERS)


def renewals_prefix(branch, pool):
    return '%s%s/%s/' % (LEASE_REFS, branch, ref_component(pool))


def read_renewals(cache, pool):
    """{(lock name, token): [(expires, ref), ...]} of the pool's renewal refs on the server (one ls-remote)."""
    prefix = renewals_prefix(cache.remote.branch, pool)
    found = {}
    for ref in cache.remote_refs(prefix):
        match = _RENEWAL_NAME.match(ref[len(prefix):])
        if match:
            key = (unquote(match.group('lock')), int(match.group('token')))
            found.setdefault(key, []).append((int(match.group('expires')), ref))
    return found


def _renewals(snapshot, pool):
    """The pool's renewal refs, read once per snapshot and only when asked for (a lease that may have run out,
    or a renewal to make)."""
    return snapshot.remember(('renewals', pool), lambda: read_renewals(snapshot.cache, pool))


def renewal_refspecs(snapshot, lock_file, token, expires_at):
    """Refspecs that renew the claim ``token`` of ``lock_file`` until ``expires_at`` and delete its older renewals (only
    its own: a renewal never races with another claim's)."""
    claim = snapshot.added_by(lock_file.path)
    ref = '%s%s/%d-%d' % (renewals_prefix(snapshot.cache.remote.branch, lock_file.pool), ref_component(lock_file.name), token, int(expires_at))
    return ['%s:%s' % (claim.sha, ref)] + [':' + old for old in renewal_refs(snapshot, lock_file, token) if old != ref]


def renewal_refs(snapshot, lock_file, token):
    """The renewal refs of the claim ``token`` of ``lock_file`` on the server (read once per snapshot)."""
    return [ref for _expires, ref in _renewals(snapshot, lock_file.pool).get((lock_file.name, token), [])]


def forget_refs(cache, refs):
    """Delete renewal ``refs`` of claims that are over; best effort (a renewal left behind extends nothing)."""
    if refs:
        try:
            cache.push_refs([':' + ref for ref in refs], atomic=False)
        except RepositoryError:
            pass


def recorded_expiry(snapshot, lock_file):
    """When the lease of the claimed ``lock_file`` ends as the branch records it (its claim, or a renewal commit
    after it), in epoch seconds; None when the branch records no lease. One git run per lock and snapshot at most."""
    if lock_file.state != 'claimed':
        return None
    return snapshot.remember(('recorded_expiry', lock_file.path), lambda: _recorded_expiry(snapshot, lock_file))


def _recorded_expiry(snapshot, lock_file):
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


def read_claims(snapshot, adds, oldest):
    """{path: claim} for the claimed lock paths of ``adds`` ({path: CommitInfo of the newest commit that added it}, as
    one history walk found them; ``oldest`` is the oldest of those commits): each claim as ``Snapshot.added_by`` says,
    remembered in ``snapshot`` with the lease the branch records, so that reading every claim's token and lease runs
    no git per lock. Two git runs in all, none when no claim is older than the head: the commits after ``oldest``
    that name a lock in a lease or takeover trailer, and the order of the commits after ``oldest``, which tells the
    claim each is about."""
    wanted = dict((lock_id(*claimed_lock(path)), path) for path in adds if claimed_lock(path))
    claims = dict((path, adds[path]) for path in wanted.values())
    leases = dict((path, []) for path in wanted.values())  # (position, expiry text) of lease trailers after the add
    position = {}
    if oldest is not None and oldest != snapshot.head and wanted:
        revisions = ['%s..%s' % (oldest, snapshot.head)]
        named = []  # (commit, {lock: claim in force}, {lock: lease}) naming a claimed lock, not as its add
        pattern = '|'.join(lock_trailer_pattern(key, '', '[^ ]+') for key in (TRAILER_LEASE,) + CLAIM_IN_FORCE_TRAILERS)
        walk = snapshot.cache.matching(revisions, pattern)
        with contextlib.closing(walk):
            for commit in walk:
                in_force = dict((ident, value) for key in CLAIM_IN_FORCE_TRAILERS for ident, value in lock_trailer_values(commit.message, key).items())
                trailers = (in_force, lock_trailer_values(commit.message, TRAILER_LEASE))
                if any(ident in wanted and commit.sha != adds[wanted[ident]].sha for found in trailers for ident in found):
                    named.append((commit,) + trailers)
        if named:
            position = dict((sha, index) for index, sha in enumerate(snapshot.cache.commit_order(revisions)))
        for commit, in_force, recorded in named:  # newest first
            for ident in set(in_force) | set(recorded):
                path = wanted.get(ident)
                if path is None or not _before(position, commit, adds[path]):
                    continue  # not a claimed lock, or about an earlier claim of it
                if ident in recorded:
                    leases[path].append((position[commit.sha], recorded[ident]))
                if ident in in_force and claims[path] is adds[path]:
                    claims[path] = commit  # the newest takeover (dirty release, reset) after the add is the claim in force
    for ident, path in wanted.items():
        claim = claims[path]
        renewed = [found for found in leases[path] if found[0] <= position.get(claim.sha, len(position))]
        value = min(renewed)[1] if renewed else lock_trailer_value(claim.message, TRAILER_LEASE, ident)
        snapshot.remember(('added_by', path), lambda claim=claim: claim)
        snapshot.remember(('recorded_expiry', path), lambda value=value: parse_utc(value) if value else None)
    return claims


def _before(position, commit, other):
    """True when ``commit`` is newer than ``other`` in the range ``position`` orders (``other`` may be its start)."""
    return position[commit.sha] < position.get(other.sha, len(position))


def lease_expiry(snapshot, lock_file):
    """When the lease of the claimed ``lock_file`` ends (epoch seconds), or None when its claim has no lease.

    Renewals extend a lease the branch records; a claim this run just made has none yet (no ls-remote to learn that).
    """
    recorded = recorded_expiry(snapshot, lock_file)
    token = current_token(snapshot, lock_file)
    if recorded is None or token is None or _just_made(snapshot, lock_file):
        return recorded
    renewed = [expires for expires, _ref in _renewals(snapshot, lock_file.pool).get((lock_file.name, token), [])]
    return max([recorded] + renewed)


def _just_made(snapshot, lock_file):
    return snapshot.made is not None and snapshot.added_by(lock_file.path) is snapshot.made


def next_expiry(snapshot, lock_file, now):
    """When to look again at a claim that holds ``lock_file`` for its lease: the expiry the branch records while it is
    ahead (a renewal can only make it later), else the lease in force; None without a lease."""
    recorded = recorded_expiry(snapshot, lock_file)
    if recorded is None or recorded > now:
        return recorded
    return lease_expiry(snapshot, lock_file)


def lease_has_expired(snapshot, lock_file, now):
    """True when the claimed ``lock_file`` has a lease and it ended at or before ``now``. The renewal refs are read
    only when the lease the branch records has run out."""
    recorded = recorded_expiry(snapshot, lock_file)
    if recorded is not None and recorded > now:
        return False
    expiry = lease_expiry(snapshot, lock_file)
    return expiry is not None and expiry <= now


def lease_fields(snapshot, lock_file, now=None):
    """``expires_at`` and ``expired`` of a lock, as pool_lock and pool_lock_info return them."""
    expiry = lease_expiry(snapshot, lock_file)
    if expiry is None:
        return dict(expires_at=None, expired=False)
    return dict(expires_at=utc_text(expiry), expired=expiry <= (time.time() if now is None else now))


def claim_fields(snapshot, lock_file):
    """``token``, ``expires_at`` and ``expired`` of a lock's current claim (null and false when it is unclaimed)."""
    return dict(lease_fields(snapshot, lock_file), token=current_token(snapshot, lock_file))

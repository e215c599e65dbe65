# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading pools: their locks, who holds them and since when, and the lock events in the history.

Nothing here pushes or waits. The commit that put each lock in its current state
(its origin) is found in one walk of the history that stops once every lock asked
about is found; lock files are read through the cache's object database. Who did
it is read from the commit message, whether Ansible or any Concourse version
wrote it (see _message), and which pool and lock from the paths it changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import BrokenLayoutError, LockNotFoundError, PoolNotFoundError
from ansible_collections.lockpool.git.plugins.module_utils._layout import CLAIMED, STATES, UNCLAIMED, claimed_lock
from ansible_collections.lockpool.git.plugins.module_utils._dirty import TRAILER_DIRTY, TRAILER_RESETTING, dirty_of
from ansible_collections.lockpool.git.plugins.module_utils._leases import TRAILER_TAKEOVER, claim_fields, claim_in_force_pattern, read_claims
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer_values, parse_message
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_text, parse_metadata
from ansible_collections.lockpool.git.plugins.module_utils._names import validate_existing_name, validate_name
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text

ABSENT = 'absent'
DIRTY = 'dirty'  # a claimed lock released dirty, or being reset (_dirty): the state readers see it in

# More lock files than this are looked for by their directories: a long pathspec slows every step of the walk.
_EXACT_PATHS_LIMIT = 16

# The commit that put a lock file where it is, and who it says did it.
Origin = namedtuple('Origin', 'commit time holder team')

# (status of <pool>/claimed/<lock>, status of <pool>/unclaimed/<lock>) in one commit -> the operation
_OPERATIONS = {
    ('A', 'D'): 'claim',
    ('D', 'A'): 'release',
    ('A', None): 'add_claimed',
    (None, 'A'): 'add',
    ('D', None): 'remove',
    (None, 'D'): 'remove',
    ('D', 'D'): 'remove',
}
_CHANGED = 'update'


def current(cache, max_age=None):
    """The branch as the server has it now, or as this machine read it at most ``max_age`` seconds ago; the cache
    fetches only when it moved."""
    return Snapshot(cache, cache.refresh(max_age))


# -- origins ------------------------------------------------------------------------

def origins(snapshot, lock_files):
    """{path: Origin} for each lock file: the newest commit that added its path, or for a claimed lock a later claim
    that took it over (_snapshot.Snapshot.added_by). One history walk, and for the claims the walk found one look at
    their leases and takeovers (_leases.read_claims), which the snapshot remembers for their tokens and leases."""
    wanted = set(lock_file.path for lock_file in lock_files)
    added = {}
    if not wanted:
        return {}
    oldest_claim = None
    walk = snapshot.cache.history(snapshot.head, _pathspec(lock_files), added_only=True)
    with contextlib.closing(walk):
        for commit in walk:
            for _status, path in commit.changes:
                if path in wanted and path not in added:
                    added[path] = commit
                    oldest_claim = commit.sha if claimed_lock(path) else oldest_claim
            if len(added) == len(wanted):
                break
    added.update(read_claims(snapshot, added, oldest_claim))
    return dict((path, _origin(commit)) for path, commit in added.items())


def origin(snapshot, lock_file):
    """The Origin of one lock file, or None when its history is gone (a shallow repository)."""
    made = snapshot.made
    if made is not None and ('A', lock_file.path) in made.changes:
        return _origin(made)
    return snapshot.remember(('origin', lock_file.path), lambda: origins(snapshot, [lock_file]).get(lock_file.path))


def _pathspec(lock_files):
    if len(lock_files) <= _EXACT_PATHS_LIMIT:
        return sorted(set(lock_file.path for lock_file in lock_files))
    return sorted(set('%s/%s/' % (lock_file.pool, lock_file.state) for lock_file in lock_files))


def _origin(commit):
    event = parse_message(commit.message, commit.author)
    if event is None:
        return Origin(commit.sha, commit.time, None, None)
    return Origin(commit.sha, commit.time, event.holder, event.team)


# -- locks --------------------------------------------------------------------------

def lock_info(lock_file, raw, found, now, dirty=None):
    """A lock as plugins return it; ``found`` is its Origin (or None), ``now`` the time ages count to, ``dirty`` its
    _dirty.Dirty when it is dirty (its state is then ``dirty``, with the ``dirty_*`` fields and ``resetting``, which
    only dirty locks have: a pool of thousands of locks is returned whole; its holder is the reset's while one holds it)."""
    info = absent_lock(lock_file.pool, lock_file.name)
    info.update(state=DIRTY if dirty else lock_file.state, metadata=metadata_text(raw), data=parse_metadata(raw))
    if found is not None:
        info.update(commit=found.commit, age=max(0, int(now - found.time)))
        if lock_file.state == CLAIMED:
            info.update(holder=found.holder, team=found.team, claimed_at=utc_text(found.time))
    if dirty:
        info.update(dirty_reason=dirty.reason, dirty_by=dirty.by, dirty_team=dirty.team, dirty_job=dirty.job, dirty_at=dirty.at,
                    resetting=dirty.resetting)
    return info


def absent_lock(pool, name):
    return dict(name=name, pool=pool, state=ABSENT, metadata=None, data=None,
                holder=None, team=None, claimed_at=None, age=None, commit=None)


def describe(snapshot, lock_file):
    """One lock, with the commit that put it in its current state."""
    return lock_info(lock_file, snapshot.read(lock_file), origin(snapshot, lock_file), time.time(), dirty_of(snapshot, lock_file))


def describe_claim(snapshot, pool, name):
    """A lock as pool_lock returns it: described, with its claim's ``token``, ``expires_at`` and ``expired``;
    an absent lock when the pool or the lock is not there."""
    try:
        lock_file = snapshot.pool(pool).find(name)
    except PoolNotFoundError:
        lock_file = None
    if lock_file is None:
        return dict(absent_lock(pool, name), token=None, expires_at=None, expired=False)
    return dict(describe(snapshot, lock_file), **claim_fields(snapshot, lock_file))


def existing_lock(snapshot, pool, name):
    """The lock file of ``name`` in ``pool``; raises when the pool or the lock does not exist."""
    validate_name('pool', pool)
    validate_existing_name('lock', name)  # a lock another tool named (``head``) is still a lock of the pool
    lock_file = snapshot.pool(pool).find(name)
    if lock_file is None:
        raise _not_found(pool, name)
    return lock_file


def _not_found(pool, name):
    return LockNotFoundError("lock '%s' does not exist in pool '%s'" % (name, pool))


# -- pools --------------------------------------------------------------------------

def read_pools(snapshot, pool=None, name=None):
    """{pool: {available, claimed, dirty, locks, problems}} for one pool or all of them, or for one lock of one pool.
    ``claimed`` counts the dirty locks too, as Concourse sees them.

    Origins are looked up for claimed locks (and for the one lock asked for): finding
    the origin of every unclaimed lock would walk back to the oldest of them. Reading
    every pool, one that cannot be read is shown with its problem, not in the way of the others.
    """
    _validate_names(pool, name)
    pools, unreadable = {}, {}
    for pool_name in [pool] if pool else snapshot.pool_names():
        try:
            pools[pool_name] = snapshot.pool(pool_name)
        except BrokenLayoutError as exc:
            if pool:
                raise
            unreadable[pool_name] = dict(available=0, claimed=0, locks=[], problems=[str(exc)])
    listed = dict((pool_name, _listed(found_pool, name)) for pool_name, found_pool in pools.items())
    wanted = [lock_file for lock_files in listed.values() for lock_file in lock_files
              if lock_file.state == CLAIMED or name is not None]
    found = origins(snapshot, wanted)  # and the claims in force, for dirty_of
    contents = snapshot.read_all([lock_file for lock_files in listed.values() for lock_file in lock_files])
    now = time.time()
    read = dict(
        (pool_name, dict(available=len(found_pool.available()), claimed=len(found_pool.claimed),
                         dirty=len(dirty_locks(snapshot, found_pool)),
                         locks=[lock_info(lock_file, contents[lock_file.sha], found.get(lock_file.path), now, dirty_of(snapshot, lock_file))
                                for lock_file in listed[pool_name]],
                         problems=found_pool.problems()))
        for pool_name, found_pool in pools.items())
    return dict(read, **unreadable)


def claimed_only(pool):
    """The claimed locks of ``pool`` (a _layout.Pool); a name in both halves is broken, not claimed."""
    return [pool.claimed[name] for name in sorted(set(pool.claimed) - set(pool.unclaimed))]


def dirty_locks(snapshot, pool):
    """The dirty lock files of ``pool`` (a _layout.Pool): one history walk for the claims not read yet (``origins``)."""
    claimed = claimed_only(pool)
    origins(snapshot, [lock_file for lock_file in claimed if not snapshot.remembers(('added_by', lock_file.path))])
    return [lock_file for lock_file in claimed if dirty_of(snapshot, lock_file)]


def _validate_names(pool, name):
    if pool is not None:
        validate_name('pool', pool)
    if name is not None:
        validate_existing_name('lock', name)


def _listed(pool, name):
    lock_files = [lock_file for lock_file in pool.lock_files() if name is None or lock_file.name == name]
    if name is not None and not lock_files:
        pool.find(name)  # says what the entry is when it is there but not a lock
        raise _not_found(pool.name, name)
    return lock_files


# -- events -------------------------------------------------------------------------

def read_events(snapshot, count, pool=None, name=None):
    """The newest ``count`` lock events, newest first: one per lock a commit changed, and one per lock a commit that
    changes no file made the claim in force of (a takeover, a dirty release, a reset's claim).

    Reads only as much history as those events need: the walk of the commits that changed the pools' files, then,
    over the same commits, a look for the others (a path-limited walk never lists a commit that changes no file),
    and when there are some, the order of the commits they fall between.
    """
    events, oldest = [], None
    walk = snapshot.cache.history(snapshot.head, _event_paths(pool, name))
    with contextlib.closing(walk):
        for commit in walk:
            events.extend(event for event in _commit_events(commit) if name is None or event['lock'] == name)
            if len(events) >= count:
                oldest = commit.sha
                break
    if snapshot.head is None or count <= 0:
        return events[:count]
    revisions = ['%s..%s' % (oldest, snapshot.head)] if oldest else [snapshot.head]
    claims = [event for commit in _walk(snapshot.cache.matching(revisions, claim_in_force_pattern(pool, name)))
              for event in _claim_events(commit, pool, name)]
    if claims:
        position = dict((sha, index) for index, sha in enumerate(snapshot.cache.commit_order(revisions)))
        events = sorted(events + claims, key=lambda event: position.get(event['commit'], len(position)))
    return events[:count]


def _walk(commits):
    with contextlib.closing(commits):
        return list(commits)


def _event_paths(pool, name):
    if pool and name:
        return ['%s/%s/%s' % (pool, state, name) for state in STATES]
    return [pool + '/'] if pool else []


def _commit_events(commit):
    """The lock events of one commit: what it did to each lock, from its paths; who did it, from its message."""
    statuses = {}
    for status, path in commit.changes:
        parts = path.split('/')
        if len(parts) == 3 and parts[1] in STATES and not parts[2].startswith('.'):
            statuses.setdefault((parts[0], parts[2]), {})[parts[1]] = status
    who = _origin(commit)
    return [dict(commit=commit.sha, time=utc_text(commit.time), pool=pool, lock=lock,
                 operation=_OPERATIONS.get((states.get(CLAIMED), states.get(UNCLAIMED)), _CHANGED),
                 holder=who.holder, team=who.team, message=_subject(commit.message))
            for (pool, lock), states in sorted(statuses.items())]


# What a commit that changes no file did to a lock, by the trailer that names it (_leases.CLAIM_IN_FORCE_TRAILERS).
_CLAIM_OPERATIONS = ((TRAILER_TAKEOVER, 'takeover'), (TRAILER_DIRTY, 'release_dirty'), (TRAILER_RESETTING, 'reset'))


def _claim_events(commit, pool, name):
    """The lock events of a commit that changes no file and makes locks' claims in force (of ``pool``, ``name``)."""
    who = _origin(commit)
    found = []
    for trailer, operation in _CLAIM_OPERATIONS:
        for ident in sorted(lock_trailer_values(commit.message, trailer)):
            event_pool, _sep, lock = ident.partition('/')
            if (pool is None or event_pool == pool) and (name is None or lock == name):
                found.append(dict(commit=commit.sha, time=utc_text(commit.time), pool=event_pool, lock=lock, operation=operation,
                                  holder=who.holder, team=who.team, message=_subject(commit.message)))
    return found


def _subject(message):
    """The commit's subject as git shows it: its first paragraph on one line."""
    return ' '.join(line.strip() for line in message.strip().split('\n\n', 1)[0].splitlines())

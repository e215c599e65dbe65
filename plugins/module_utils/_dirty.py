# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dirty locks: released by a play that left its environment broken, and not handed out again until reset.

Releasing dirty is a commit that changes no file: the lock stays in ``claimed/``, so a Concourse pipeline (and
every claim) sees it taken. The commit records ``Lock-Dirty: <pool>/<lock> <token of the claim it ends, or ->``
and ``Lock-Dirty-Reason: <pool>/<lock> <why>``, and becomes the lock's claim in force, as a takeover does
(_snapshot.Snapshot.added_by). It has no lease, so it never runs out and pool_reap never frees it.

A reset claims the dirty lock for whoever resets it: also a commit that changes no file, with a token and a lease
of its own and ``Lock-Resetting: <pool>/<lock> <sha of the commit that made it dirty>``. The lock stays dirty while
it is reset: when that claim's lease runs out only another reset takes it over. Releasing the reset's claim marks
the lock clean (it moves to ``unclaimed/``); releasing it dirty again records the new reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._job_systems import TRAILER_JOB, job_ref
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, lock_trailer_texts, lock_trailer_value, parse_message
from ansible_collections.lockpool.git.plugins.module_utils._names import CONTROL_CHARACTERS
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text
from ansible_collections.lockpool.git.plugins.module_utils._tokens import lock_id

TRAILER_DIRTY = 'Lock-Dirty'
TRAILER_DIRTY_REASON = 'Lock-Dirty-Reason'
TRAILER_RESETTING = 'Lock-Resetting'
REASON_MAX = 1000  # characters of a reason kept in the commit: a task's whole output does not belong in a trailer

# What made a lock dirty: ``reason`` (or None), ``by`` and ``team`` who released it so, the ``job`` that did
# (``awx 1234``, a Concourse build, or None), ``at`` (ISO 8601 UTC) and ``commit``; ``resetting``: whether a
# reset holds it now (its holder is the lock's holder).
Dirty = namedtuple('Dirty', 'reason by team job at commit resetting')


def dirty_trailers(pool, name, token, reason, job):
    """The trailers of a commit that releases the claim ``token`` (None: Concourse's) of ``pool/name`` dirty."""
    ident = lock_id(pool, name)
    trailers = [lock_trailer(TRAILER_DIRTY, ident, '-' if token is None else token)]
    if reason:
        trailers.append(lock_trailer(TRAILER_DIRTY_REASON, ident, _one_line(reason)))
    if job:
        trailers.append(lock_trailer(TRAILER_JOB, ident, job))
    return trailers


def resetting_trailer(pool, name, dirty):
    """The trailer of a reset's claim of the dirty lock ``pool/name`` (``dirty``: its Dirty)."""
    return lock_trailer(TRAILER_RESETTING, lock_id(pool, name), dirty.commit)


def dirty_token(claim, pool, name):
    """The token of the claim that the commit ``claim`` released dirty ('-' for Concourse's); None if it did not."""
    return lock_trailer_value(claim.message, TRAILER_DIRTY, lock_id(pool, name))


def dirty_of(snapshot, lock_file):
    """The Dirty of ``lock_file`` at ``snapshot``, or None when it is not dirty (remembered per snapshot)."""
    if lock_file.state != 'claimed':
        return None
    return snapshot.remember(('dirty', lock_file.path), lambda: _dirty(snapshot, lock_file))


def _dirty(snapshot, lock_file):
    claim = snapshot.added_by(lock_file.path)
    if claim is None:
        return None
    ident = lock_id(lock_file.pool, lock_file.name)
    marked = lock_trailer_value(claim.message, TRAILER_RESETTING, ident)
    resetting = marked is not None
    if resetting:
        claim = snapshot.cache.commit_info(marked, ())
    elif lock_trailer_value(claim.message, TRAILER_DIRTY, ident) is None:
        return None
    event = parse_message(claim.message, claim.author)
    reasons = lock_trailer_texts(claim.message, TRAILER_DIRTY_REASON, ident)
    job = job_ref(claim.message, claim.author, ident)
    return Dirty(reason=reasons[0] if reasons else None, by=event.holder if event else None, team=event.team if event else None,
                 job=job.label if job else None, at=utc_text(claim.time), commit=claim.sha, resetting=resetting)


def _one_line(text):
    """A reason as a trailer can carry it: one line without control characters, at most REASON_MAX characters."""
    line = ' '.join(CONTROL_CHARACTERS.sub(' ', text).split())
    return line if len(line) <= REASON_MAX else line[:REASON_MAX - 1] + '\u2026'

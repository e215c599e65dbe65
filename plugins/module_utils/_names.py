# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of pool and lock names.

A pool is a directory at the repository root and a lock is a file in it, so a
name the collection creates must be one plain path component that git and
Concourse both treat as an ordinary file: no separators, no dot-files (Concourse
never treats them as locks), nothing git or a shell reads as special
(``validate_name``). A shared pool may hold locks that another tool named
otherwise (Concourse's ``out`` takes any file name, ``head`` and ``-x``
included): such a lock is still a lock, released or removed by its name as long
as that name is one safe path component (``validate_existing_name``); a claim of
any lock never picks one whose name its commit could not carry (``unclaimable``).
Names Concourse's ``in`` cannot read are told apart too (``concourse_unreadable``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

MAX_NAME_BYTES = 255
_RESERVED = frozenset(['head'])
CONTROL_CHARACTERS = re.compile(r'[\x00-\x1f\x7f]')
# What Concourse's ``in`` (bash) does to a lock name, which it reads from ``git log --name-only``: git quotes a path
# with a byte above 0x7f, a control character, '"' or '\\' (core.quotePath); the unquoted shell variable is then split
# at white space and expanded as a glob (``*``, ``?``, ``[``). Each breaks the name, and with it the pipeline's release.
_CONCOURSE_UNREADABLE = (
    (re.compile(r'\s'), "white space, where Concourse's in cuts the name"),
    (re.compile(r'[^\x00-\x7f]'), "a non-ASCII character, which git quotes for Concourse's in ('caf\\303\\251-1\"')"),
    (CONTROL_CHARACTERS, "a control character, which git quotes for Concourse's in"),
    (re.compile(r'["\\]'), "a quote or a backslash, which git quotes for Concourse's in"),
    (re.compile(r'[*?[]'), "a glob character (* ? [), which Concourse's in expands to other files' names"),
)


def validate_name(kind, value):
    """Return ``value`` if it is a valid pool or lock name, else raise InvalidInputError.

    ``kind`` is ``'pool'`` or ``'lock'``, used in the message.
    """
    if not isinstance(value, str):
        raise InvalidInputError('%s name must be a string, got %s' % (kind, type(value).__name__))
    shown = value if len(value) <= 60 else value[:60] + '...'
    if value == '':
        raise InvalidInputError('%s name must not be empty' % kind)
    if CONTROL_CHARACTERS.search(value):
        raise InvalidInputError('%s name %r contains a control character (NUL, newline, ...)' % (kind, shown))
    if '/' in value or '\\' in value:
        raise InvalidInputError('%s name %r must not contain a path separator' % (kind, shown))
    if value.startswith('.'):
        raise InvalidInputError('%s name %r must not start with a dot (dot-files are never locks)' % (kind, shown))
    if value.startswith('-'):
        raise InvalidInputError('%s name %r must not start with a dash' % (kind, shown))
    if value != value.strip():
        raise InvalidInputError('%s name %r must not start or end with white space' % (kind, shown))
    if value.lower() in _RESERVED:
        raise InvalidInputError('%s name %r is reserved' % (kind, shown))
    if len(value.encode('utf-8', 'surrogatepass')) > MAX_NAME_BYTES:
        raise InvalidInputError('%s name %r is longer than %d bytes' % (kind, shown, MAX_NAME_BYTES))
    return value


def validate_existing_name(kind, value):
    """Return ``value`` if it can name an entry that exists in a pool, else raise InvalidInputError.

    For what the collection does to a lock that is there (release, remove, claim it by name, read it), whoever named
    it: one path component git can hold (no ``/``, no NUL), not a dot-file (``.gitkeep``, ``..``). Every path the engine hands git is
    literal and comes after ``--``, so ``head``, ``-x`` or ``e*`` mean just themselves.
    """
    if not isinstance(value, str):
        raise InvalidInputError('%s name must be a string, got %s' % (kind, type(value).__name__))
    if value == '':
        raise InvalidInputError('%s name must not be empty' % kind)
    shown = value if len(value) <= 60 else value[:60] + '...'
    if '/' in value:
        raise InvalidInputError('%s name %r must not contain a path separator' % (kind, shown))
    if '\x00' in value:
        raise InvalidInputError('%s name %r contains a NUL character' % (kind, shown))
    if len(value.encode('utf-8', 'surrogatepass')) > MAX_NAME_BYTES:  # no file system holds such a file
        raise InvalidInputError('%s name %r is longer than %d bytes' % (kind, shown, MAX_NAME_BYTES))
    if value.startswith('.'):  # no tool's lock: git needs .gitkeep files, and our readers never take a dot-file for a lock
        raise InvalidInputError('%s name %r must not start with a dot (dot-files are never locks)' % (kind, shown))
    return value


def unclaimable(name):
    """Why a claim never takes the existing lock ``name``, or None: its commit names the lock in its subject and in
    one trailer line per lock (``Lock-Token: pool/name 7``), which a control character would break."""
    if CONTROL_CHARACTERS.search(name):
        return 'its name has a control character, which the commit of a claim cannot carry'
    return None


def concourse_unreadable(name):
    """Why Concourse's ``in`` cannot read a lock (or pool) called ``name``, or None when it can."""
    for pattern, why in _CONCOURSE_UNREADABLE:
        if pattern.search(name):
            return 'it has %s' % why
    return None

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of pool and lock names.

A pool is a directory at the repository root and a lock is a file in it, so a
name must be one plain path component that git and Concourse both treat as an
ordinary file: no separators, no dot-files (Concourse never treats them as
locks), nothing git or a shell reads as special.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

MAX_NAME_BYTES = 255
_RESERVED = frozenset(['head'])
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def validate_name(kind, value):
    """Return ``value`` if it is a valid pool or lock name, else raise InvalidInputError.

    ``kind`` is ``'pool'`` or ``'lock'``, used in the message.
    """
    if not isinstance(value, str):
        raise InvalidInputError('%s name must be a string, got %s' % (kind, type(value).__name__))
    shown = value if len(value) <= 60 else value[:60] + '...'
    if value == '':
        raise InvalidInputError('%s name must not be empty' % kind)
    if _CONTROL.search(value):
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

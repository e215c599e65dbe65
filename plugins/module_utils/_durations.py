# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as Concourse writes them (``10s``, ``90m``, ``1h30m``) or as plain seconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

_UNIT_SECONDS = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}
_PART = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h|d)')
_WHOLE = re.compile(r'^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$')


def parse_duration(value, option='duration'):
    """Return ``value`` in seconds (float).

    Accepts a number (seconds), a numeric string, or a string of number+unit parts
    such as ``10s``, ``90m``, ``1h30m``, ``500ms``.
    """
    if isinstance(value, bool):
        raise InvalidInputError('%s must be a duration such as 10s, 90m or 1h, got %r' % (option, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(' ', '')
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.match(text):
                raise InvalidInputError('%s must be a duration such as 10s, 90m or 1h, got %r' % (option, value))
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    if seconds < 0 or math.isnan(seconds):
        raise InvalidInputError('%s must not be negative, got %r' % (option, value))
    return seconds

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Points in time as results and commit trailers write them: ISO 8601 in UTC, to the second (``2026-11-23T09:41:07Z``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import time
from datetime import datetime, timezone

_UTC_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def utc_text(timestamp):
    """``timestamp`` (seconds since the epoch) as ISO 8601 UTC text."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace('+00:00', 'Z')


def parse_utc(text):
    """Seconds since the epoch of ISO 8601 UTC text as utc_text writes it; None when it is not such text."""
    try:
        return calendar.timegm(time.strptime(text, _UTC_FORMAT))
    except ValueError:
        return None

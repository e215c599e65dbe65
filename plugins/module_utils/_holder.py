# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who holds a lock when the caller does not say."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import socket


def default_holder():
    """``user@host`` of the machine running the engine."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = 'unknown'
    return '%s@%s' % (user, socket.gethostname())

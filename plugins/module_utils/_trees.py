# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Git tree objects as bytes: the entries of a tree, and the bytes of a tree made of entries.

GitPython's tree functions check every entry's name as they parse or write it, too
slow for pools of thousands of locks (docs/performance.md). The trees read here come
from git, and the names written were validated before, so one regular expression and
one join do the work.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

TREE_MODE = 0o40000
_ENTRY = re.compile(rb'([0-7]+) ([^\0]+)\0(.{20})', re.DOTALL)


def parse_tree(data):
    """(mode, name, binary sha) of each entry of a tree object's ``data``; mode and name are the bytes git wrote."""
    return _ENTRY.findall(data)


def tree_data(entries):
    """A tree object's data holding ``entries`` ({name: (mode, binary sha)}, names bytes, modes ints), in git's order.

    Git sorts a directory as if its name ended with '/'.
    """
    names = sorted(entries, key=lambda name: name + b'/' if entries[name][0] == TREE_MODE else name)
    return b''.join([b'%o %s\0%s' % (entries[name][0], name, entries[name][1]) for name in names])

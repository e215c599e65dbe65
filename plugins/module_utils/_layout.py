# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Concourse pool layout: ``<pool>/claimed/<lock>`` and ``<pool>/unclaimed/<lock>``.

Reads pools out of a git tree and names the tree edits that change them. A
lock's state is the directory its file is in; dot-files (``.gitkeep``) are never
locks; git modes 100644 and 100755 are both lock files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    BrokenLayoutError,
    PoolNotFoundError,
)
from ansible_collections.lockpool.git.plugins.module_utils._trees import tree_entries

CLAIMED = 'claimed'
UNCLAIMED = 'unclaimed'
STATES = (CLAIMED, UNCLAIMED)
KEEP_FILE = '.gitkeep'
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755
_LOCK_MODES = {b'100644': FILE_MODE, b'100755': EXECUTABLE_MODE}  # as a tree's bytes say them


class LockFile(namedtuple('LockFile', 'pool name state sha mode')):
    """One lock file as it stands in a tree."""

    __slots__ = ()

    @property
    def path(self):
        return lock_path(self.pool, self.state, self.name)


# Tree edits: move a LockFile to a path (same blob and mode), write a file, delete a file.
Move = namedtuple('Move', 'source target')
Write = namedtuple('Write', 'path data mode')
Delete = namedtuple('Delete', 'path')


def lock_path(pool, state, name):
    return '%s/%s/%s' % (pool, state, name)


def new_pool_edits(pool):
    """The edits that create an empty pool, as Concourse users create one by hand."""
    return [Write(lock_path(pool, state, KEEP_FILE), b'', FILE_MODE) for state in STATES]


class Pool(object):
    """One pool at one commit."""

    def __init__(self, name, claimed, unclaimed):
        self.name = name
        self.claimed = claimed
        self.unclaimed = unclaimed

    def find(self, name):
        """The lock's file, or None when the pool has no such lock."""
        in_claimed = self.claimed.get(name)
        in_unclaimed = self.unclaimed.get(name)
        if in_claimed and in_unclaimed:
            raise BrokenLayoutError(
                "lock '%s' is in both %s/claimed/ and %s/unclaimed/; remove one of them by hand"
                % (name, self.name, self.name))
        return in_claimed or in_unclaimed

    def available(self):
        return sorted(name for name in self.unclaimed if name not in self.claimed)

    def names(self):
        return sorted(set(self.claimed) | set(self.unclaimed))

    def lock_files(self):
        """Every lock file, by name (a name wrongly in both directories is listed twice)."""
        return sorted(list(self.claimed.values()) + list(self.unclaimed.values()), key=lambda lock_file: (lock_file.name, lock_file.state))


def _lock_files(pool, state, tree):
    """{name: LockFile} of a state directory, read from the tree's bytes: it may hold thousands of locks."""
    files = {}
    for mode, name, binsha in tree_entries(tree.data_stream.read()):
        if mode in _LOCK_MODES and not name.startswith(b'.'):
            name = name.decode('utf-8', 'surrogateescape')
            files[name] = LockFile(pool, name, state, binsha.hex(), _LOCK_MODES[mode])
    return files


def read_pool(root_tree, pool):
    """The pool named ``pool`` in a GitPython root tree."""
    try:
        pool_tree = root_tree[pool]
    except KeyError:
        raise PoolNotFoundError("pool '%s' does not exist (no directory %s/ in the repository)" % (pool, pool))
    if pool_tree.type != 'tree':
        raise BrokenLayoutError("'%s' in the repository is a file, not a pool directory" % pool)
    states = {}
    for state in STATES:
        try:
            state_tree = pool_tree[state]
        except KeyError:
            raise BrokenLayoutError("pool '%s' is not a lock pool: it has no %s/%s/ directory" % (pool, pool, state))
        if state_tree.type != 'tree':
            raise BrokenLayoutError("pool '%s' is not a lock pool: %s/%s is not a directory" % (pool, pool, state))
        states[state] = _lock_files(pool, state, state_tree)
    return Pool(pool, states[CLAIMED], states[UNCLAIMED])


def list_pools(root_tree):
    """Names of the root directories that have the pool layout, sorted."""
    names = []
    for tree in root_tree.trees:
        children = set(child.name for child in tree.trees)
        if not tree.name.startswith('.') and set(STATES) <= children:
            names.append(tree.name)
    return sorted(names)

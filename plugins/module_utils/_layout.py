# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Concourse pool layout: ``<pool>/claimed/<lock>`` and ``<pool>/unclaimed/<lock>``.

Reads pools out of a git tree, given as the entries the git layer lists, names the
tree edits that change them and turns those into the git layer's changes. A lock's
state is the directory its file is in; dot-files (``.gitkeep``) are never locks; git
modes 100644 and 100755 are both lock files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    BrokenLayoutError,
    PoolNotFoundError,
)
from ansible_collections.lockpool.git.plugins.module_utils._names import unclaimable
from ansible_collections.lockpool.git.plugins.module_utils._trees import TREE_MODE

CLAIMED = 'claimed'
UNCLAIMED = 'unclaimed'
STATES = (CLAIMED, UNCLAIMED)
KEEP_FILE = '.gitkeep'
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755
_LOCK_MODES = (FILE_MODE, EXECUTABLE_MODE)


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


def claimed_lock(path):
    """(pool, lock) of a path in a pool's claimed half, or None for any other path."""
    parts = path.split('/')
    return (parts[0], parts[2]) if len(parts) == 3 and parts[1] == CLAIMED and parts[2] != KEEP_FILE else None


def new_pool_edits(pool):
    """The edits that create an empty pool, as Concourse users create one by hand."""
    return [Write(lock_path(pool, state, KEEP_FILE), b'', FILE_MODE) for state in STATES]


class Pool(object):
    """One pool at one commit.

    ``claimed`` and ``unclaimed`` map lock names to LockFiles; ``entries`` counts every entry of each half
    (locks, dot-files and anything else), so that a change can tell when it would leave a half empty;
    ``others`` names the entries of a half that are neither locks nor dot-files (links, directories).
    """

    def __init__(self, name, claimed, unclaimed, entries=None, others=None):
        self.name = name
        self.claimed = claimed
        self.unclaimed = unclaimed
        self.entries = entries if entries is not None else {CLAIMED: len(claimed), UNCLAIMED: len(unclaimed)}
        self.others = others or {}

    def find(self, name):
        """The lock's file, or None when the pool has no such lock."""
        problem = self._problem(name)
        if problem:
            raise BrokenLayoutError(problem)
        return self.claimed.get(name) or self.unclaimed.get(name)

    def problems(self):
        """What is wrong with the pool's entries, as find() would say it of each, and which free locks a claim of any
        lock never takes, and why; empty for a sound pool."""
        names = (set(self.claimed) & set(self.unclaimed)) | set(self.others)
        found = [problem for problem in (self._problem(name) for name in sorted(names)) if problem]
        return found + ["lock %r in %s/unclaimed/ is never taken by a claim of any lock: %s (remove it by name, or rename it by hand)"
                        % (name, self.name, unclaimable(name)) for name in self.available() if unclaimable(name)]

    def _problem(self, name):
        if name in self.claimed and name in self.unclaimed:
            return ("lock '%s' is in both %s/claimed/ and %s/unclaimed/; remove one of them by hand"
                    % (name, self.name, self.name))
        if name in self.others and name not in self.claimed and name not in self.unclaimed:
            state, kind = self.others[name]
            return "'%s' in %s/%s/ is %s, not a lock (a lock is a plain file)" % (name, self.name, state, kind)
        return None

    def available(self):
        return sorted(name for name in self.unclaimed if name not in self.claimed)

    def claimable(self):
        """The free locks a claim of any lock may take: not those whose name its commit could not carry."""
        return [name for name in self.available() if not unclaimable(name)]

    def shows_concourse(self):
        """Whether Concourse's ``out`` has written a lock file here: it writes them executable (100755), we never do."""
        return any(lock_file.mode == EXECUTABLE_MODE for half in (self.claimed, self.unclaimed) for lock_file in half.values())

    def lock_files(self):
        """Every lock file, by name (a name wrongly in both directories is listed twice)."""
        return sorted(list(self.claimed.values()) + list(self.unclaimed.values()), key=lambda lock_file: (lock_file.name, lock_file.state))


# What a tree entry that is not a lock file is, by its mode.
_NOT_LOCKS = {TREE_MODE: 'a directory', 0o120000: 'a symbolic link', 0o160000: 'a submodule'}


def _read_half(pool, state, entries):
    """({name: LockFile}, number of entries, {name: (state, what it is)}) of a half's tree ``entries``.

    A half may hold thousands of locks.
    """
    files, others = {}, {}
    for entry in entries:
        if entry.name.startswith('.'):
            continue
        if entry.mode in _LOCK_MODES:
            files[entry.name] = LockFile(pool, entry.name, state, entry.sha, entry.mode)
        else:
            others[entry.name] = (state, _NOT_LOCKS.get(entry.mode, 'an entry of mode %o' % entry.mode))
    return files, len(entries), others


def read_pool(tree_entries, root_tree, pool):
    """The pool named ``pool`` in the tree ``root_tree`` (a sha; None: a branch with no commit yet).

    ``tree_entries(tree)`` lists a tree's entries (mode, name, sha), as the git layer reads them. A half that
    git does not have (nothing kept it, no ``.gitkeep``) is an empty half; a directory with neither half is
    not a pool.
    """
    pool_tree = _entry_named(tree_entries(root_tree), pool) if root_tree is not None else None
    if pool_tree is None:
        raise PoolNotFoundError("pool '%s' does not exist (no directory %s/ in the repository)" % (pool, pool))
    if pool_tree.mode != TREE_MODE:
        raise BrokenLayoutError("'%s' in the repository is a file, not a pool directory" % pool)
    halves = dict((entry.name, entry) for entry in tree_entries(pool_tree.sha) if entry.name in STATES)
    if not halves:
        raise BrokenLayoutError("'%s' is not a lock pool: it has neither %s/claimed/ nor %s/unclaimed/" % (pool, pool, pool))
    files, entries, others = {}, {}, {}
    for state in STATES:
        half = halves.get(state)
        if half is not None and half.mode != TREE_MODE:
            raise BrokenLayoutError("pool '%s' is not a lock pool: %s/%s is not a directory" % (pool, pool, state))
        files[state], entries[state], found = _read_half(pool, state, tree_entries(half.sha) if half is not None else [])
        for name, what in found.items():
            others.setdefault(name, what)
    return Pool(pool, files[CLAIMED], files[UNCLAIMED], entries, others)


def _entry_named(entries, name):
    """The first of ``entries`` called ``name``, or None."""
    return next((entry for entry in entries if entry.name == name), None)


def list_pools(tree_entries, root_tree):
    """Names of the root directories that have the pool layout (a claimed/ or an unclaimed/ directory), sorted.

    ``tree_entries`` and ``root_tree`` as read_pool takes them.
    """
    if root_tree is None:
        return []
    return sorted(entry.name for entry in tree_entries(root_tree)
                  if entry.mode == TREE_MODE and not entry.name.startswith('.') and _has_a_half(tree_entries, entry.sha))


def _has_a_half(tree_entries, tree):
    return any(entry.mode == TREE_MODE and entry.name in STATES for entry in tree_entries(tree))


def tree_changes(edits, store_blob):
    """The git layer's changes ({path: (mode, blob sha) to write, or None to delete}) that make ``edits``.

    ``store_blob(data)`` stores the data of a file written and returns its sha. A later edit of a path
    overrides an earlier one.
    """
    changes = {}
    for edit in edits:
        if isinstance(edit, Move):
            changes[edit.source.path] = None
            changes[edit.target] = (edit.source.mode, edit.source.sha)
        elif isinstance(edit, Write):
            changes[edit.path] = (edit.mode, store_blob(edit.data))
        elif isinstance(edit, Delete):
            changes[edit.path] = None
    return changes


def keep_halves(pools, edits):
    """``edits``, plus the ``.gitkeep`` of each half of a pool they would leave empty.

    Git keeps no empty directory, and Concourse needs both halves of a pool; ``pools`` ({name: Pool}) are
    the pools as the edits found them.
    """
    removed = {}
    for edit in edits:
        half = _half_of(_removed_path(edit))
        if half is not None and half[0] in pools:
            removed.setdefault(half, set()).add(_removed_path(edit))
    added = set(_half_of(_added_path(edit)) for edit in edits)
    kept = list(edits)
    for (pool, state), paths in sorted(removed.items()):
        if len(paths) >= pools[pool].entries[state] and (pool, state) not in added:
            kept.append(Write(lock_path(pool, state, KEEP_FILE), b'', FILE_MODE))
    return kept


def _removed_path(edit):
    return edit.source.path if isinstance(edit, Move) else edit.path if isinstance(edit, Delete) else None


def _added_path(edit):
    return edit.target if isinstance(edit, Move) else edit.path if isinstance(edit, Write) else None


def _half_of(path):
    """(pool, state) of a lock path, or None for any other path."""
    parts = path.split('/') if path else ()
    return (parts[0], parts[1]) if len(parts) == 3 and parts[1] in STATES else None

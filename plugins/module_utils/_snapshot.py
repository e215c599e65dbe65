# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The branch at one commit, as the operations see it: its pools, lock files and their history, read through the cache."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.lockpool.git.plugins.module_utils._layout import Move, claimed_lock, keep_halves, list_pools, read_pool, tree_changes
from ansible_collections.lockpool.git.plugins.module_utils._leases import claim_in_force_pattern


class Snapshot(object):
    """The branch at one commit, read through the cache."""

    def __init__(self, cache, head):
        self.cache = cache
        self.head = head
        self.made = None  # CommitInfo of ``head`` when this run made it, with the moves it is known to have made
        self._root_tree = None
        self._pools = {}
        self._answers = {}

    @classmethod
    def after_push(cls, cache, outcome):
        """The branch at the commit ``outcome`` pushed. For each lock it moved, that commit is the add,
        so describing those locks needs no history walk (read in process, no git run)."""
        snapshot = cls(cache, outcome.commit)
        moves = [edit for edit in outcome.decision.edits if isinstance(edit, Move)]
        snapshot.made = cache.commit_info(outcome.commit, [change for move in moves
                                                           for change in (('D', move.source.path), ('A', move.target))])
        for status, path in snapshot.made.changes:
            if status == 'A':
                snapshot._answers[('added_by', path)] = snapshot.made
        return snapshot

    @property
    def root_tree(self):
        """The sha of the root tree, or None on a branch that has no commit yet (an empty repository)."""
        if self._root_tree is None and self.head is not None:
            self._root_tree = self.cache.root_tree(self.head)
        return self._root_tree

    def pool(self, name):
        if name not in self._pools:
            self._pools[name] = read_pool(self.cache.tree_entries, self.root_tree, name)
        return self._pools[name]

    def pool_names(self):
        """The names of the pools on the branch, sorted (_layout.list_pools)."""
        return list_pools(self.cache.tree_entries, self.root_tree)

    def write_commit(self, edits, message, author):
        """Create (not push) the commit on top of this snapshot that makes ``edits``, with the ``.gitkeep`` files that
        keep each half of the pools they change (_layout.keep_halves); returns its sha."""
        changes = tree_changes(keep_halves(self._pools, edits), self.cache.store_blob)
        return self.cache.write_commit(self.head, changes, message, author)

    def read(self, lock_file):
        return self.cache.read_blob(lock_file.sha)

    def read_all(self, lock_files):
        """{sha: data} of the files of ``lock_files``, read in one git run (a pool of thousands of lock files)."""
        return self.cache.read_blobs([lock_file.sha for lock_file in lock_files])

    def remember(self, key, compute):
        """``compute()``, run once per snapshot for each ``key``: what history says at one commit never changes."""
        if key not in self._answers:
            self._answers[key] = compute()
        return self._answers[key]

    def remembers(self, key):
        """Whether ``remember`` has the answer for ``key`` already."""
        return key in self._answers

    def added_by(self, path):
        """For a claimed lock's ``path``, its claim: the newest commit at or before this snapshot that added the path,
        or a later one that changes no file and became the claim: a takeover of a claim whose lease ran out, a dirty
        release, a reset's claim (_leases.claim_in_force_pattern). An update of the
        lock's metadata by its holder changes the file, not the claim. For any other path, the commit that added it."""
        return self.remember(('added_by', path), lambda: self._claim_or_add(path))

    def _claim_or_add(self, path):
        added = self.cache.added_by(self.head, path)
        lock = claimed_lock(path)
        if added is None or added.sha == self.head or lock is None:
            return added
        return self.cache.newest_commit(['%s..%s' % (added.sha, self.head)], (), claim_in_force_pattern(*lock)) or added

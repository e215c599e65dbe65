# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects and refs of the cache's bare repository, as plain data: trees, blobs, commits, history.

Objects are read and written in process, in the repository's object database (no
index, no work tree): a commit rewrites only the trees on the paths it changes. Trees
are parsed from their bytes (_trees). History is what one running ``git log`` says.
A ref moves by renaming a lock file into place, so a run killed at any point leaves
nothing half-written behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser
import contextlib
import io
import re
import tempfile
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._trees import TREE_MODE, parse_tree, tree_data

try:
    import git
    from gitdb import IStream, LooseObjectDB
    from gitdb.exc import ODBError

    class _ObjectDatabase(git.GitCmdObjectDB):
        """GitPython's object database, but writing loose objects in process: its own runs git hash-object for each."""

        def store(self, istream):
            return LooseObjectDB.store(self, istream)

    HAS_GITPYTHON = True
    GITPYTHON_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules report it with missing_required_lib
    HAS_GITPYTHON = False
    GITPYTHON_IMPORT_ERROR = exc

_COMMITTER = ('lockpool', 'lockpool@localhost')
# What git trims from both ends of a name in a commit's author line (ident.c: crud).
_NAME_CRUD = ''.join(chr(code) for code in range(33)) + '.,:;<>"\\\''
_STATUS = re.compile(r'^[A-Z][0-9]*$')
_LOG_FORMAT = '--format=%H%x00%ct%x00%an%x00%B'
EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'  # the blob of an empty file, as git names it

# One commit of a history walk; ``changes`` is a tuple of (status letter, path) as git diff --name-status says.
CommitInfo = namedtuple('CommitInfo', 'sha time author message changes')
# One entry of a tree: ``mode`` as a number (0o100644, 0o40000, 0o120000, ...), ``name`` text (bytes that are
# not UTF-8 kept as surrogates), ``sha`` in hex.
TreeEntry = namedtuple('TreeEntry', 'mode name sha')


def init_bare(path):
    """Make an empty bare repository at ``path`` (created, with its parents) that keeps no reflog and collects
    its garbage in the foreground."""
    repo = git.Repo.init(path, bare=True, mkdir=True)
    with repo.config_writer() as config:
        config.set_value('core', 'logAllRefUpdates', 'false')
        config.set_value('gc', 'autoDetach', 'false')
    repo.close()


class GitObjects(object):
    """The objects and refs of the bare repository at ``path``; ``runner`` (a GitRunner there) runs ``git log``.

    Raises CacheDamagedError when GitPython cannot open the repository.
    """

    def __init__(self, path, env, runner):
        self._runner = runner
        try:
            self._repo = git.Repo(path, odbt=_ObjectDatabase)
        except (git.exc.GitError, configparser.Error) as exc:
            raise runner.unreadable(exc)
        self._repo.git.update_environment(**env)

    def close(self):
        self._repo.close()

    @contextlib.contextmanager
    def damage_guard(self):
        """Report GitPython's failures to read the objects as CacheDamagedError."""
        try:
            yield
        except (git.exc.GitError, ODBError, ValueError) as exc:
            raise self._runner.unreadable(exc)

    # -- refs -----------------------------------------------------------------------

    def read_ref(self, name):
        """The commit the ref ``name`` points at, or None when there is no such ref; read in process (no git run)."""
        try:
            return git.Reference.dereference_recursive(self._repo, name)
        except ValueError:
            return None

    def set_ref(self, name, sha):
        """Point the ref ``name`` at the commit ``sha``.

        GitPython writes the ref through a lock file renamed into place: a run killed meanwhile leaves the old
        value and a stale lock file.
        """
        git.Reference(self._repo, name).set_object(self._commit(sha))

    # -- reading --------------------------------------------------------------------

    def _commit(self, sha):
        """The commit ``sha`` (read when an attribute is first used, without asking git what kind of object it is)."""
        return git.Commit(self._repo, bytes.fromhex(sha))

    def root_tree(self, commit):
        """The sha of the root tree of the commit ``commit``; None when ``commit`` is None (a branch with no commit)."""
        return self._commit(commit).tree.hexsha if commit is not None else None

    def tree_entries(self, tree):
        """The TreeEntry of each entry of the tree ``tree`` (a sha), in the tree's order."""
        return [TreeEntry(int(mode, 8), name.decode('utf-8', 'surrogateescape'), sha.hex())
                for mode, name, sha in parse_tree(self._read(bytes.fromhex(tree)))]

    def read_blob(self, sha):
        """The data of the blob ``sha``."""
        return self._read(bytes.fromhex(sha))

    def read_blobs(self, shas):
        """{sha: data} of the blobs ``shas``: the empty one without git, the others in one ``git cat-file --batch``.

        ``read_blob`` asks GitPython's running cat-file for one object at a time, a round trip through its pipes
        each: reading every lock file of a pool of thousands would cost more than all the rest of the reading.
        """
        wanted = sorted(set(shas) - set([EMPTY_BLOB]))
        found = dict((sha, b'') for sha in set(shas) - set(wanted))
        if not wanted:
            return found
        with tempfile.TemporaryFile() as requests:
            requests.write(''.join(sha + '\n' for sha in wanted).encode('ascii'))
            requests.seek(0)
            try:
                out = self._repo.git.execute(['git', 'cat-file', '--batch'], istream=requests, stdout_as_string=False)
            except git.exc.GitCommandError as exc:
                raise self._runner.damaged('git cat-file', '%s' % exc.stderr)
        at = 0
        for sha in wanted:
            end = out.index(b'\n', at)
            header = out[at:end].split()
            if len(header) != 3 or header[0].decode('ascii') != sha or header[1] != b'blob':
                raise self._runner.damaged('git cat-file', 'no blob %s: %s' % (sha, out[at:end].decode('utf-8', 'replace')))
            at = end + 1 + int(header[2])
            found[sha] = out[end + 1:at]
            at += 1  # the newline after each object (the last one GitPython strips)
        return found

    def _read(self, binsha):
        return self._repo.odb.stream(binsha).read()

    def commit_info(self, sha, changes):
        """CommitInfo of the commit ``sha``, read in process; ``changes`` as the caller knows them (it made the commit)."""
        commit = self._commit(sha)
        return CommitInfo(sha, commit.committed_date, commit.author.name, commit.message, tuple(changes))

    # -- history --------------------------------------------------------------------

    def added_by(self, head, path):
        """The newest commit at or before ``head`` that added ``path``, as CommitInfo, or None."""
        walk = self.history(head, [path], added_only=True)
        try:
            return next(walk, None)
        finally:
            walk.close()

    def newest_commit(self, revisions, paths=(), pattern=None):
        """The newest commit of ``revisions`` (git log's range syntax) that changed one of ``paths`` (any
        commit when empty) and has a message line matching the extended regular expression ``pattern``."""
        grep = ['-E', '--grep=' + pattern] if pattern else []
        if paths and pattern:
            return self._newest_changing(grep + list(revisions), paths)
        out = self._runner.local('git log', ['log', '-1', _LOG_FORMAT] + grep + list(revisions) + ['--'] + list(paths))
        if not out:
            return None
        sha, when, author, message = out.split('\x00', 3)
        return CommitInfo(sha, int(when), author, message, ())

    def _newest_changing(self, log_args, paths):
        """The newest commit ``git log <log_args>`` lists that changed one of ``paths``, or None.

        Given the paths, git would compare every commit it walks with its parent, a pool's whole directory
        each time (a lock never claimed walks the whole history); this compares only the commits listed.
        """
        commits = self._log(log_args + ['--'])
        try:
            return next((commit for commit in commits if any(path in paths for _status, path in commit.changes)), None)
        finally:
            commits.close()

    def history(self, head, paths=(), added_only=False):
        """The commits at or before ``head`` that changed ``paths``, newest first, as CommitInfo.

        A generator over one running ``git log``: git walks only as far as it is read, and
        closing the generator stops it. Renames are reported as a delete and an add;
        ``added_only`` keeps the adds only.
        """
        return self._log((['--diff-filter=A'] if added_only else []) + [head, '--'] + list(paths))

    def matching(self, revisions, pattern):
        """The commits of ``revisions`` (git log's range syntax) with a message line matching the extended regular
        expression ``pattern``, newest first, as CommitInfo; a generator, as ``history``."""
        return self._log(['-E', '--grep=' + pattern] + list(revisions) + ['--'])

    def commit_order(self, revisions):
        """The shas of the commits of ``revisions`` (git log's range syntax), newest first: a commit is listed before
        every commit it descends from (one ``git rev-list --topo-order``, which reads no tree)."""
        return self._runner.local('git rev-list', ['rev-list', '--topo-order'] + list(revisions) + ['--']).split()

    def _log(self, log_args):
        """CommitInfo of each commit ``git log --name-status <log_args>`` lists, as git lists it."""
        with self._runner.local_fields('git log', ['log', '--no-renames', '-z', '--name-status', _LOG_FORMAT] + log_args) as fields:
            yield from _parse_log(fields)

    # -- writing --------------------------------------------------------------------

    def store_blob(self, data):
        """Write a blob holding ``data``; returns its sha."""
        return self._store('blob', data).hex()

    def write_commit(self, base, changes, message, author):
        """Create a commit on top of ``base`` (None: a root commit) that makes ``changes``; returns its sha.

        ``changes`` is {path: (mode, blob sha) to write, or None to delete}. Only the trees on the changed
        paths are read and written again, every other tree is kept as it is, and a directory left empty is
        dropped, as git write-tree does.
        """
        edits = dict((_path_bytes(path), None if entry is None else (entry[0], bytes.fromhex(entry[1])))
                     for path, entry in changes.items())
        parents = [self._commit(base)] if base else []
        tree = self._store('tree', tree_data(self._edited_tree(parents[0].tree.binsha if parents else None, edits)))
        commit = git.Commit.create_from_tree(
            self._repo, git.Tree(self._repo, tree), message, parent_commits=parents,
            author=git.Actor(_author_name(author), _COMMITTER[1]), committer=git.Actor(*_COMMITTER))
        return commit.hexsha

    def _edited_tree(self, binsha, changes):
        """The entries of the tree ``binsha`` (None: no tree yet) with ``changes`` ({path: (mode, binsha) or None}) made.

        Paths, names and shas are bytes here, as the tree's bytes hold them.
        """
        entries = {name: (int(mode, 8), sha) for mode, name, sha in parse_tree(self._read(binsha) if binsha else b'')}
        nested = {}
        for path, entry in changes.items():
            name, _slash, rest = path.partition(b'/')
            if rest:
                nested.setdefault(name, {})[rest] = entry
            elif entry is None:
                entries.pop(name, None)
            else:
                entries[name] = entry
        for name, inner in nested.items():
            mode, sha = entries.get(name, (None, None))
            subtree = self._edited_tree(sha if mode == TREE_MODE else None, inner)
            if subtree:
                entries[name] = (TREE_MODE, self._store('tree', tree_data(subtree)))
            elif mode == TREE_MODE:
                del entries[name]
        return entries

    def _store(self, kind, data):
        """Write an object; returns its binary sha."""
        return self._repo.odb.store(IStream(kind, len(data), io.BytesIO(data))).binsha


def _path_bytes(path):
    return path.encode('utf-8', 'surrogateescape')


def _author_name(name):
    """``name`` as git writes it in a commit's author line; refused, as git refuses it, when nothing is left."""
    kept = ''.join(char for char in name.strip(_NAME_CRUD) if char not in '\n<>')
    if not kept:
        raise InvalidInputError('git refuses %r as the name of a commit author: it has only punctuation and spaces' % name)
    return kept


def _parse_log(fields):
    """CommitInfo from ``git log -z --name-status`` fields: a header, then (status, path) pairs."""
    commit = None
    changes = []
    fields = iter(fields)
    for field in fields:
        text = field.decode('utf-8', 'replace').lstrip('\n')
        if commit is not None and _STATUS.match(text):
            changes.append((text, next(fields, b'').decode('utf-8', 'surrogateescape')))
            continue
        if commit is not None:
            yield commit._replace(changes=tuple(changes))
        when, author, message = (next(fields, b'').decode('utf-8', 'replace') for _header_field in range(3))
        commit, changes = CommitInfo(text, int(when), author, message, ()), []
    if commit is not None:
        yield commit._replace(changes=tuple(changes))

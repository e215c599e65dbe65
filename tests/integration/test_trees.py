"""The trees the engine reads and writes in process, without git, are what git reads and writes.

A pool reads as the lock files ``git ls-tree`` lists. Each row of EDITS makes its edits with
_layout.tree_changes and RepoCache.write_commit and, on the same base, with ``git read-tree``,
``update-index --index-info`` and ``write-tree`` in a temporary index (what the engine ran before): the
trees must be the same object, so they are the same bytes at every level.
"""

import os
import stat
import subprocess

import pytest

from support.repos import GIT_ENV, git

from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._layout import (
    EXECUTABLE_MODE,
    FILE_MODE,
    Delete,
    Move,
    Write,
    new_pool_edits,
    read_pool,
    tree_changes,
)
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import RepoCache

FILES = {
    'aws/claimed/.gitkeep': b'',
    'aws/unclaimed/.gitkeep': b'',
    'aws/unclaimed/env-1': b'region: eu-west-1\n',
    'aws/unclaimed/env-2': b'',
    'aws/unclaimed/exec-lock': b'#!/bin/sh\n',
    'gcp/claimed/only': b'',  # no .gitkeep: releasing it leaves claimed/ empty
    'gcp/unclaimed/spare': b'',
    'solo/claimed/one': b'',
    'solo/unclaimed/two': b'',
    # git sorts the directory aws as "aws/": after aws-notes and aws.txt, before aws0
    'aws-notes': b'',
    'aws.txt': b'',
    'aws0': b'',
    'docs/deep/er/file': b'deep\n',
    'aws/unclaimed/sub/not-a-lock': b'',
    'aws/unclaimed/zoë': b'',
}
EXECUTABLES = ('aws/unclaimed/exec-lock',)
SYMLINKS = {'aws/unclaimed/link': 'env-1'}


def git_bytes(cwd, *args, input=None, env=None):
    return subprocess.run(['git', *args], cwd=cwd, input=input, env=dict(GIT_ENV, **(env or {})), capture_output=True,
                          check=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A bare repository holding FILES, with EXECUTABLES at mode 100755, and SYMLINKS."""
    work, bare = tmp_path / 'work', tmp_path / 'locks.git'
    git('init', '-q', '-b', 'main', str(work))
    for path, data in FILES.items():
        os.makedirs(os.path.dirname(str(work / path)) or str(work), exist_ok=True)
        (work / path).write_bytes(data)
    for path in EXECUTABLES:
        os.chmod(str(work / path), 0o755)
    for path, target in SYMLINKS.items():
        os.symlink(target, str(work / path))
    git('add', '-A', cwd=str(work))
    git('commit', '-q', '-m', 'pools', cwd=str(work))
    git('init', '-q', '--bare', '-b', 'main', str(bare))
    git('push', '-q', str(bare), 'HEAD:refs/heads/main', cwd=str(work))
    return str(bare)


@pytest.fixture
def cache(repo, tmp_path):
    with RepoCache(Remote(repo, cache_dir=str(tmp_path / 'cache'))) as opened:
        with opened.exclusive():
            opened.fetch()
        yield opened


def plumbing_tree(cache, base, edits, index):
    """The tree git's plumbing writes for ``edits`` on ``base``."""
    env = {'GIT_INDEX_FILE': index}
    git_bytes(cache.path, 'read-tree', base, env=env)
    lines = []
    for edit in edits:
        if isinstance(edit, Move):
            lines += ['0 %s\t%s' % ('0' * 40, edit.source.path), '%o %s\t%s' % (edit.source.mode, edit.source.sha, edit.target)]
        elif isinstance(edit, Write):
            blob = git_bytes(cache.path, 'hash-object', '-w', '--stdin', input=edit.data).decode().strip()
            lines.append('%o %s\t%s' % (edit.mode, blob, edit.path))
        else:
            lines.append('0 %s\t%s' % ('0' * 40, edit.path))
    git_bytes(cache.path, 'update-index', '-z', '--index-info', input=''.join(line + '\0' for line in lines).encode(), env=env)
    return git_bytes(cache.path, 'write-tree', env=env).decode().strip()


def pool_at(cache, head, pool):
    return read_pool(cache.tree_entries, cache.root_tree(head), pool)


def commit_edits(cache, head, edits, message, author):
    return cache.write_commit(head, tree_changes(edits, cache.store_blob), message, author)


def every_file(cache, head):
    return [Delete(path) for path in git_bytes(cache.path, 'ls-tree', '-r', '--name-only', head).decode().split('\n') if path]


def test_a_pool_reads_as_the_lock_files_git_lists(cache):
    head = cache.local_head()
    listed = {}
    for entry in git_bytes(cache.path, 'ls-tree', '-z', head, 'aws/unclaimed/').decode().split('\0'):
        if entry:
            info, path = entry.split('\t')
            mode, kind, sha = info.split()
            listed[path.rsplit('/', 1)[1]] = (mode, kind, sha)

    pool = pool_at(cache, head, 'aws')

    assert {name: ('%o' % lock.mode, 'blob', lock.sha) for name, lock in pool.unclaimed.items()} == dict(
        (name, listed[name]) for name in ('env-1', 'env-2', 'exec-lock', 'zoë'))
    assert listed['exec-lock'][0] == '100755' and listed['link'][0] == '120000' and listed['sub'][1] == 'tree'
    assert pool.claimed == {}


EDITS = {
    'claim': lambda lock, cache, head: [Move(lock('aws', 'env-1'), 'aws/claimed/env-1')],
    'claim-executable-keeps-its-mode': lambda lock, cache, head: [Move(lock('aws', 'exec-lock'), 'aws/claimed/exec-lock')],
    'claim-two': lambda lock, cache, head: [Move(lock('aws', 'env-1'), 'aws/claimed/env-1'),
                                            Move(lock('aws', 'env-2'), 'aws/claimed/env-2')],
    'release-leaves-claimed-empty': lambda lock, cache, head: [Move(lock('gcp', 'only'), 'gcp/unclaimed/only')],
    'move-to-another-pool': lambda lock, cache, head: [Move(lock('aws', 'env-1'), 'gcp/unclaimed/env-1')],
    'write-new-and-existing': lambda lock, cache, head: [Write('aws/unclaimed/env-3', b'region: x\n', FILE_MODE),
                                                         Write('aws/unclaimed/env-2', b'changed\n', FILE_MODE)],
    'write-executable': lambda lock, cache, head: [Write('aws/unclaimed/tool', b'#!/bin/sh\n', EXECUTABLE_MODE)],
    'write-then-move-the-same-lock': lambda lock, cache, head: [Write('aws/unclaimed/env-1', b'new\n', FILE_MODE),
                                                                Move(lock('aws', 'env-1'), 'aws/claimed/env-1')],
    'delete': lambda lock, cache, head: [Delete('aws/unclaimed/env-2')],
    'delete-a-missing-file': lambda lock, cache, head: [Delete('aws/unclaimed/nothing-here')],
    'pool-left-empty': lambda lock, cache, head: [Delete('solo/claimed/one'), Delete('solo/unclaimed/two')],
    'new-pool': lambda lock, cache, head: new_pool_edits('azure'),
    'new-nested-directories': lambda lock, cache, head: [Write('docs/deep/er/new/file', b'x', FILE_MODE),
                                                         Write('zz/a/b', b'', FILE_MODE)],
    'names-next-to-a-directory': lambda lock, cache, head: [Write('aws-', b'', FILE_MODE), Write('aws.md', b'', FILE_MODE),
                                                            Write('aws/claimed.txt', b'', FILE_MODE),
                                                            Write('aws/claimed-2/x', b'', FILE_MODE)],
    'everything-deleted': lambda lock, cache, head: every_file(cache, head),
}


@pytest.mark.parametrize('name', list(EDITS))
def test_the_tree_written_in_process_is_the_one_git_writes(cache, tmp_path, name):
    head = cache.local_head()

    def lock(pool, lock_name):
        return pool_at(cache, head, pool).find(lock_name)

    edits = EDITS[name](lock, cache, head)

    commit = commit_edits(cache, head, edits, 'claiming: env-1\n\nLock-Holder: alice\n', 'alice')

    assert git('rev-parse', commit + '^{tree}', cwd=cache.path).strip() == plumbing_tree(cache, head, edits, str(tmp_path / 'index'))
    git('fsck', '--strict', cwd=cache.path)  # every object in the cache, the new ones included


def test_the_commit_says_who_and_why_on_its_base(cache):
    head = cache.local_head()
    message = 'claiming: env-1\n\nLock-Holder: alice\nLock-Pool: aws\n'
    lock = pool_at(cache, head, 'aws').find('env-1')

    commit = commit_edits(cache, head, [Move(lock, 'aws/claimed/env-1')], message, 'alice')

    headers, _blank, body = git_bytes(cache.path, 'cat-file', 'commit', commit).decode().partition('\n\n')
    lines = headers.split('\n')
    assert lines[1] == 'parent ' + head
    assert lines[2].startswith('author alice <lockpool@localhost> ')
    assert lines[3].startswith('committer lockpool <lockpool@localhost> ')
    assert len(lines) == 4 and body == message


@pytest.mark.parametrize('holder', [' alice. ', "o'neil", '"quoted"', 'Zoë Smith', 'build #42, job: deploy;'])
def test_the_author_name_is_the_one_git_writes(cache, holder):
    head = cache.local_head()
    tree = git('rev-parse', head + '^{tree}', cwd=cache.path).strip()
    by_git = git_bytes(cache.path, 'commit-tree', tree, '-m', 'x', env={'GIT_AUTHOR_NAME': holder}).decode().strip()

    commit = cache.write_commit(head, {}, 'x', holder)

    assert git('log', '-1', '--format=%an', commit, cwd=cache.path) == git('log', '-1', '--format=%an', by_git, cwd=cache.path)


def test_a_holder_git_would_refuse_as_author_is_refused(cache):
    with pytest.raises(InvalidInputError, match='only punctuation and spaces'):
        cache.write_commit(cache.local_head(), {}, 'x', '. ,')


def test_the_cache_head_moves_only_when_a_push_lands(cache, repo):
    head = cache.local_head()
    lock = pool_at(cache, head, 'aws').find('env-1')
    commit = commit_edits(cache, head, [Move(lock, 'aws/claimed/env-1')], 'claiming: env-1\n', 'alice')
    assert cache.local_head() == head

    with cache.exclusive():
        assert cache.push(commit)

    assert cache.local_head() == commit == git('rev-parse', 'main', cwd=repo).strip()
    ref = os.path.join(cache.path, 'refs', 'lockpool', 'heads', 'main')
    assert not os.path.exists(ref + '.lock') and stat.S_IMODE(os.stat(ref).st_mode) == 0o644
    git('fsck', '--strict', cwd=repo)

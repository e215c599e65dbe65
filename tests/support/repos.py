"""Lock repositories made and read with the git command line, independently of the engine."""

import os
import subprocess

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME='tests', GIT_AUTHOR_EMAIL='tests@localhost',
               GIT_COMMITTER_NAME='tests', GIT_COMMITTER_EMAIL='tests@localhost',
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM='1',
               GIT_LITERAL_PATHSPECS='1')  # a pool named ':p' or a lock named 'e*' is read as just that


def git(*args, cwd=None, check=True, env=None):
    result = subprocess.run(['git', *args], cwd=cwd, env=dict(GIT_ENV, **(env or {})), capture_output=True, text=True,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError('git %s failed: %s' % (' '.join(args), result.stderr))
    return result.stdout


def make_lock_repo(path, pools, claimed=None, branch='main'):
    """Create a bare repository at ``path`` with the Concourse layout.

    ``pools`` maps pool -> {lock: metadata}; ``claimed`` maps pool -> [locks in claimed/].
    Returns ``path``.
    """
    claimed = claimed or {}
    work = str(path) + '.work'
    git('init', '-q', '--bare', '-b', branch, str(path))
    git('init', '-q', '-b', branch, work)
    for pool, locks in pools.items():
        for state in ('claimed', 'unclaimed'):
            os.makedirs(os.path.join(work, pool, state), exist_ok=True)
            open(os.path.join(work, pool, state, '.gitkeep'), 'w').close()
        for lock, metadata in locks.items():
            state = 'claimed' if lock in claimed.get(pool, ()) else 'unclaimed'
            with open(os.path.join(work, pool, state, lock), 'wb') as handle:
                handle.write(metadata.encode() if isinstance(metadata, str) else metadata)
    git('add', '-A', cwd=work)
    git('commit', '-q', '-m', 'initial pools', cwd=work)
    git('push', '-q', str(path), 'HEAD:refs/heads/' + branch, cwd=work)
    return str(path)


def make_repo_of_files(path, files, branch='main'):
    """Create a bare repository at ``path`` whose one commit holds exactly ``files``, as a person or another tool
    makes one by hand: {path: text} for files, {path: ('symlink', target)} for symbolic links. Returns ``path``."""
    work = str(path) + '.work'
    git('init', '-q', '--bare', '-b', branch, str(path))
    git('init', '-q', '-b', branch, work)
    for name, content in files.items():
        target = os.path.join(work, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if isinstance(content, tuple):
            os.symlink(content[1], target)
        else:
            with open(target, 'w') as handle:
                handle.write(content)
    git('add', '-A', cwd=work)
    git('commit', '-q', '-m', 'made by hand', cwd=work)
    git('push', '-q', str(path), 'HEAD:refs/heads/' + branch, cwd=work)
    return str(path)


def tree_paths(bare, branch='main'):
    """Every file path of the branch's tree, dot-files included, sorted."""
    return sorted(git('ls-tree', '-r', '--name-only', '-z', 'refs/heads/' + branch, cwd=str(bare)).split('\0')[:-1])


def commit_to(bare, message, changes, branch='main', author=None, date=None):
    """Make one commit on ``bare`` as another tool would: ``changes`` is [(op, path[, data or target])],
    op one of mv, write, symlink, rm, chmod+x.

    ``date`` (a Unix timestamp) sets the author and committer dates.
    """
    work = str(bare) + '.other'
    if not os.path.isdir(work):
        git('clone', '-q', '-b', branch, str(bare), work)
    git('fetch', '-q', 'origin', cwd=work)
    git('reset', '-q', '--hard', 'origin/' + branch, cwd=work)
    for change in changes:
        op, path = change[0], change[1]
        if op == 'mv':
            git('mv', path, change[2], cwd=work)
        elif op == 'write':
            with open(os.path.join(work, path), 'wb') as handle:
                handle.write(change[2].encode() if isinstance(change[2], str) else change[2])
            git('add', path, cwd=work)
        elif op == 'symlink':
            os.symlink(change[2], os.path.join(work, path))
            git('add', path, cwd=work)
        elif op == 'rm':
            git('rm', '-q', path, cwd=work)
        elif op == 'chmod+x':
            git('update-index', '--chmod=+x', path, cwd=work)
    args = ['commit', '-q', '-m', message]
    if author:
        args += ['--author', author]
    if date is not None:
        args += ['--date', '@%d' % date]
    git(*args, cwd=work, env={'GIT_COMMITTER_DATE': '@%d' % date} if date is not None else None)
    git('push', '-q', 'origin', 'HEAD:' + branch, cwd=work)
    return git('rev-parse', 'HEAD', cwd=work).strip()


def head(bare, branch='main'):
    return git('rev-parse', 'refs/heads/' + branch, cwd=str(bare)).strip()


def pool_state(bare, pool, branch='main'):
    """{'claimed': [...], 'unclaimed': [...]} as the branch has it now (dot-files left out)."""
    state = {'claimed': [], 'unclaimed': []}
    listing = git('ls-tree', '-r', '--name-only', 'refs/heads/' + branch, '--', pool + '/', cwd=str(bare))
    for path in listing.splitlines():
        parts = path.split('/')
        if len(parts) == 3 and parts[1] in state and not parts[2].startswith('.'):
            state[parts[1]].append(parts[2])
    return {key: sorted(value) for key, value in state.items()}


def read_lock(bare, path, branch='main'):
    return git('show', 'refs/heads/%s:%s' % (branch, path), cwd=str(bare))


def last_message(bare, branch='main'):
    return git('log', '-1', '--format=%B', 'refs/heads/' + branch, cwd=str(bare))


def commit_count(bare, branch='main'):
    return int(git('rev-list', '--count', 'refs/heads/' + branch, cwd=str(bare)).strip())


_RACING_HOOK = '''#!/bin/sh
# Another pusher wins the race once: the branch moves while the first push that arrives is being received.
[ -e "$GIT_DIR/raced" ] && exit 0
touch "$GIT_DIR/raced"
other=$(echo "someone else pushed first" | git -c user.name=other -c user.email=other@localhost commit-tree "$(git rev-parse "$2^{tree}")" -p "$2")
git update-ref "$1" "$other" "$2"
'''


def lose_next_push_race(bare):
    """Make the next push to ``bare`` lose a real race (the server's branch moves under it); later pushes land."""
    hook = os.path.join(str(bare), 'hooks', 'update')
    with open(hook, 'w') as handle:
        handle.write(_RACING_HOOK)
    os.chmod(hook, 0o755)

"""Lock repositories as Concourse's pool-resource writes them, and what its ``in`` reads of a version.

Made with the git command line the way the resource's ``out`` makes them (lock files written mode 0555, so git
records 100755; its commit subjects with a ``TEAM/PIPELINE/JOB build N`` prefix). ``concourse_in`` does what the
resource's ``in`` script does with a version (described in ../shared/concourse-facts.md, written here anew): it
names the lock after the first path ``git log -1 --name-only`` lists, as its shell sees it, and refuses a claim whose
lock file changed since.
"""

import os
import posixpath

from support.repos import git

BUILD = 'main/deploy/deploy-aws build 42'


def make_concourse_repo(path, pools, branch='main'):
    """A bare repository whose pools were set up by hand (their ``.gitkeep``) and whose locks Concourse's ``out``
    added, one ``adding unclaimed: X`` commit each; ``pools`` maps pool -> {lock: metadata}. Returns ``path``."""
    path, work = str(path), str(path) + '.concourse'
    git('init', '-q', '--bare', '-b', branch, path)
    git('init', '-q', '-b', branch, work)
    for pool in pools:
        for state in ('claimed', 'unclaimed'):
            os.makedirs(os.path.join(work, pool, state))
            open(os.path.join(work, pool, state, '.gitkeep'), 'w').close()
    git('add', '-A', cwd=work)
    git('commit', '-q', '-m', 'set up the pools', cwd=work)
    git('push', '-q', path, 'HEAD:' + branch, cwd=work)
    for pool, locks in pools.items():
        for lock, metadata in locks.items():
            concourse_out(path, 'add', pool, lock, metadata, work=work)
    return path


def concourse_out(bare, operation, pool, lock, metadata='', work=None):
    """One ``out`` of Concourse's resource on ``bare``: 'add', 'claim' or 'release' of ``lock``, its commit and push."""
    work = work or str(bare) + '.concourse'
    git('fetch', '-q', bare, 'main', cwd=work)
    git('reset', '-q', '--hard', 'FETCH_HEAD', cwd=work)
    if operation == 'add':
        target = os.path.join(work, pool, 'unclaimed', lock)
        with open(target, 'w') as handle:
            handle.write(metadata)
        os.chmod(target, 0o555)
        git('add', '--', target, cwd=work)
        subject = 'adding unclaimed: %s' % lock
    else:
        source, target = ('unclaimed', 'claimed') if operation == 'claim' else ('claimed', 'unclaimed')
        git('mv', '--', '%s/%s/%s' % (pool, source, lock), '%s/%s/%s' % (pool, target, lock), cwd=work)
        subject = '%s: %s' % ('claiming' if operation == 'claim' else 'unclaiming', lock)
    env = {'GIT_AUTHOR_NAME': 'CI Pool Resource', 'GIT_AUTHOR_EMAIL': 'ci-pool@localhost',
           'GIT_COMMITTER_NAME': 'CI Pool Resource', 'GIT_COMMITTER_EMAIL': 'ci-pool@localhost'}
    git('commit', '-q', '-m', '%s %s' % (BUILD, subject), cwd=work, env=env)
    git('push', '-q', bare, 'HEAD:main', cwd=work)
    return git('rev-parse', 'HEAD', cwd=work).strip()


def concourse_in(bare, pool, ref, branch='main'):
    """What Concourse's ``in`` of the version ``ref`` gives: {'lock_name', 'name' (its name file, None when it writes
    none), 'metadata', 'error' ('lock instance is no longer acquired', or None)}.

    The name: the first path of ``git log -1 --name-only`` at ``ref`` within the pool, with git's default quoting of
    unusual paths (core.quotePath) and plain (not literal) pathspecs, then cut at white space as an unquoted shell
    variable is (its glob expansion is left out). A claimed lock whose file a later commit touched is refused.
    """
    plain = {'GIT_LITERAL_PATHSPECS': '0'}
    listed = git('log', '-1', '--name-only', '--format=', ref, '--', pool, cwd=str(bare), env=plain).splitlines()
    words = (listed[0] if listed else '').split()
    changed_path = words[0] if words else ''
    name = posixpath.basename(changed_path)
    if len(words) == 2 and name.endswith(words[1]) and name != words[1]:
        name = name[:-len(words[1])]  # basename's second operand is a suffix to strip
    files = set(git('ls-tree', '-r', '--name-only', '-z', ref, '--', pool, cwd=str(bare)).split('\0'))
    if '%s/claimed/%s' % (pool, name) in files:
        if git('log', '--oneline', '%s..refs/heads/%s' % (ref, branch), '--', changed_path, cwd=str(bare), env=plain).strip():
            return dict(lock_name=name, name=None, metadata=None, error='lock instance is no longer acquired')
    held = [path for path in ('%s/claimed/%s' % (pool, name), '%s/unclaimed/%s' % (pool, name)) if path in files]
    if not held:
        return dict(lock_name=name, name=None, metadata=None, error=None)
    return dict(lock_name=name, name=name, metadata=git('show', '%s:%s' % (ref, held[0]), cwd=str(bare)), error=None)

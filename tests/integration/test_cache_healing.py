"""A damaged local cache heals itself: the next run succeeds, never a wedged host.

Each row damages the cache the way a killed run, a full disk or a bad sector does, then runs the next
operation on the same cache.
"""

import glob
import os
import shutil

import pytest

from support.modules import run_module
from support.repos import git, pool_state


def cache_repo(cache_dir):
    (path,) = glob.glob(os.path.join(cache_dir, '*.git'))
    return path


def overwrite_objects(cache, data):
    for path in glob.glob(os.path.join(cache, 'objects', '??', '*')):
        os.chmod(path, 0o644)
        with open(path, 'wb') as handle:
            handle.write(data)


def empty_object_files(cache):
    overwrite_objects(cache, b'')


def garbage_object_files(cache):
    overwrite_objects(cache, b'not a zlib stream')


def objects_directory_gone(cache):
    shutil.rmtree(os.path.join(cache, 'objects'))


def ref_to_a_missing_commit(cache):
    with open(os.path.join(cache, 'refs', 'lockpool', 'heads', 'main'), 'w') as handle:
        handle.write('deadbeef' * 5 + '\n')


def config_is_garbage(cache):
    with open(os.path.join(cache, 'config'), 'w') as handle:
        handle.write('[[[ not a config\n')


def half_created(cache):
    os.unlink(os.path.join(cache, 'HEAD'))


def stale_lock_files(cache):
    for path in ('refs/lockpool/heads/main.lock', 'packed-refs.lock', 'index.lock', 'config.lock'):
        open(os.path.join(cache, path), 'w').close()


def leftovers_of_killed_runs(cache):
    with open(os.path.join(cache, 'objects', 'objkilled'), 'wb') as handle:  # GitPython's temporary loose object
        handle.write(b'x\x9c half a zlib stream')
    os.mkdir(cache + '.new-99999')


DAMAGES = [empty_object_files, garbage_object_files, objects_directory_gone, ref_to_a_missing_commit,
           config_is_garbage, half_created, stale_lock_files, leftovers_of_killed_runs]


@pytest.mark.parametrize('damage', DAMAGES, ids=[damage.__name__ for damage in DAMAGES])
def test_next_run_on_a_damaged_cache_succeeds(aws_repo, lock_args, cache_dir, damage):
    assert run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'))['changed']
    damage(cache_repo(cache_dir))

    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice', state='released'))

    assert not result.get('failed'), result['msg']
    assert result['changed']
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}
    cache = cache_repo(cache_dir)
    git('fsck', '--strict', cwd=cache)
    assert glob.glob(cache + '.new-*') == []


def test_cache_dir_that_is_a_file_is_a_clear_error(aws_repo, tmp_path):
    blocker = tmp_path / 'not-a-directory'
    blocker.write_text('')
    result = run_module('pool_lock', {'repo': aws_repo, 'cache_dir': str(blocker), 'pool': 'aws', 'name': 'env-1'})
    assert result['failed']
    assert result['msg'] == 'cannot use cache_dir %s: File exists' % blocker
    assert 'Traceback' not in result['stderr']

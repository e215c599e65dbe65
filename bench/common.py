"""What every benchmark shares: statistics, a scratch lab with a git daemon, engine calls, module runs."""

import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from support.modules import PYTHON, module_env
from support.repos import GIT_ENV, make_lock_repo
from support.servers import GitDaemon

from ansible_collections.lockpool.git.plugins.module_utils import _operations as operations
from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import RepoCache

POOL = 'pool'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(ROOT, 'plugins', 'modules')


# -- statistics -------------------------------------------------------------------

def median(values):
    return statistics.median(values)


def percentile(values, fraction):
    """Nearest-rank percentile (``fraction`` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def jain(values):
    """Jain's fairness index: 1 when every value is equal, 1/n when one takes everything."""
    total = sum(values)
    squares = sum(value * value for value in values)
    return 1.0 if squares == 0 else total * total / (len(values) * squares)


def ratio(value, baseline):
    return value / baseline if baseline else float('inf')


def timed(function, *args, **kwargs):
    """Seconds ``function`` took."""
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


# -- rows and targets the report renders -------------------------------------------

def row(label, value, unit, baseline=None, baseline_label=None):
    entry = dict(label=label, value=value, unit=unit)
    if baseline is not None:
        entry.update(baseline=baseline, baseline_label=baseline_label, ratio=ratio(value, baseline))
    return entry


def target(text, figure, met):
    return dict(target=text, figure=figure, met=bool(met))


# -- a scratch lab: lock repositories, served by a real git daemon ------------------

class Lab(object):
    """A temporary directory holding bare lock repositories, served over ``git daemon`` on loopback."""

    def __init__(self, daemon_log=False):
        self.path = tempfile.mkdtemp(prefix='lockpool-bench-')
        self.repos = os.path.join(self.path, 'repos')
        os.makedirs(self.repos)
        self.daemon = None
        self.daemon_log = os.path.join(self.path, 'daemon.log') if daemon_log else None  # the daemon's --verbose log

    def __enter__(self):
        self.daemon = GitDaemon(self.repos, log=self.daemon_log).start()
        return self

    def __exit__(self, *exc_info):
        self.daemon.stop()
        shutil.rmtree(self.path, ignore_errors=True)

    def pool_repo(self, name, locks):
        """A bare repository with ``POOL`` holding ``locks`` unclaimed locks named lock-0..; returns its path."""
        return make_lock_repo(os.path.join(self.repos, name), {POOL: {'lock-%d' % i: '' for i in range(locks)}})

    def url(self, name):
        return self.daemon.url(name)

    def cache_dir(self, name):
        return os.path.join(self.path, 'caches', name)


def git(*args, cwd=None):
    subprocess.run(['git'] + list(args), cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


class FastImport(object):
    """A bare repository at ``path`` (branch main) written commit by commit with ``git fast-import``: fast at any size."""

    def __init__(self, path):
        subprocess.run(['git', 'init', '-q', '--bare', '-b', 'main', path], env=GIT_ENV, check=True)
        self.path = path
        self.commits = 0
        self._importer = subprocess.Popen(['git', 'fast-import', '--quiet'], cwd=path, env=GIT_ENV, stdin=subprocess.PIPE)

    def commit(self, message, changes):
        """One commit; ``changes`` are fast-import's file commands (``M 100644 inline <path>``, ``R <from> <to>``...)."""
        data = message.encode()
        self._importer.stdin.write(b'commit refs/heads/main\ncommitter bench <bench@localhost> %d +0000\ndata %d\n%s\n%s\n'
                                   % (1700000000 + self.commits, len(data), data, ''.join(changes).encode()))
        self.commits += 1

    def close(self):
        self._importer.stdin.close()
        if self._importer.wait() != 0:
            raise RuntimeError('git fast-import failed for %s' % self.path)
        return self.path


def inline_file(path, text):
    return 'M 100644 inline %s\ndata %d\n%s\n' % (path, len(text.encode()), text)


def claimed_pool_repo(path, locks, claimed, commits):
    """A bare lock repository of ``locks`` locks (each with a line of metadata of its own) and ``commits`` commits, as
    pool_lock writes them: the locks ``lock-0`` to ``lock-<claimed - 1>`` end claimed, with a token and a lease that
    has not run out, their claims spread over the whole history; the other commits claim and release the other locks
    in turn (a claimed pool that has been in use a long time)."""
    repo = FastImport(path)
    files = [inline_file('%s/%s/.gitkeep' % (POOL, state), '') for state in ('claimed', 'unclaimed')]
    repo.commit('initial pools', files + [inline_file('%s/unclaimed/lock-%d' % (POOL, index), 'index: %d\n' % index)
                                          for index in range(locks)])
    tokens = {}

    def move(name, verb, source, target, trailers=''):
        repo.commit('%s: %s\n\nLock-Holder: bench\nLock-Pool: %s\n%s' % (verb, name, POOL, trailers),
                    ['R %s/%s/%s %s/%s/%s\n' % (POOL, source, name, POOL, target, name)])

    def claim(name):
        tokens[name] = tokens.get(name, 0) + 1
        move(name, 'claiming', 'unclaimed', 'claimed', 'Lock-Token: %s/%s %d\nLock-Lease-Expires: %s/%s 2100-01-01T00:00:00Z\n'
             % (POOL, name, tokens[name], POOL, name))

    others = ['lock-%d' % index for index in range(claimed, locks)] or ['lock-0']
    every = max(1, (commits - 1) // max(1, claimed))  # a lasting claim every ``every`` commits
    kept, turn = 0, 0
    while repo.commits < commits:
        if kept < claimed and (repo.commits - 1) % every == every - 1 or commits - repo.commits <= claimed - kept:
            claim('lock-%d' % kept)
            kept += 1
        elif repo.commits + 2 <= commits - (claimed - kept):
            name = others[turn % len(others)]
            turn += 1
            claim(name)
            move(name, 'unclaiming', 'claimed', 'unclaimed')
        else:
            repo.commit('another writer', [])
    return repo.close()


# -- the engine, in process -------------------------------------------------------

def engine_op(url, cache_dir, state, name, holder='bench'):
    """One pool_lock operation through the engine as the module runs it (cache opened for the operation)."""
    request = operations.Request(pool=POOL, holder=holder, holder_given=True)
    operation = operations.OPERATIONS[state](request, {'name': name, 'fair': False})
    with RepoCache(Remote(url, cache_dir=cache_dir)) as cache:
        return operations.execute(cache, operation)


def engine_cycle(url, cache_dir, name):
    """One acquire and one release of ``name`` through the engine."""
    engine_op(url, cache_dir, 'claimed', name)
    engine_op(url, cache_dir, 'released', name)


# -- a module run, as a CI step runs it ---------------------------------------------

USAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'usage.py')


def run_measured(module, args, check=True):
    """Run ``module`` (a file under plugins/modules, or ``ansible.modules.X``) on ``args`` as a CI step runs it.

    Returns (result, wall seconds, CPU seconds incl. git children, peak RSS KiB);
    a failed run raises RuntimeError when ``check``.
    """
    handle = tempfile.NamedTemporaryFile('w', suffix='.json', delete=False)
    with handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    dotted = module if '.' in module else 'ansible_collections.lockpool.git.plugins.modules.' + module
    started = time.perf_counter()
    try:
        completed = subprocess.run([PYTHON, USAGE, PYTHON, '-m', dotted, handle.name], check=False, capture_output=True,
                                   env=module_env())
    finally:
        os.unlink(handle.name)
    wall = time.perf_counter() - started
    result, usage = json.loads(completed.stdout), json.loads(completed.stderr)
    if check and result.get('failed'):
        raise RuntimeError('%s failed: %s' % (module, result.get('msg')))
    return result, wall, usage['cpu'], usage['max_rss_kib']


def module_present(name):
    return os.path.isfile(os.path.join(MODULES, name + '.py'))

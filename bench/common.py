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

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix='lockpool-bench-')
        self.repos = os.path.join(self.path, 'repos')
        os.makedirs(self.repos)
        self.daemon = None

    def __enter__(self):
        self.daemon = GitDaemon(self.repos).start()
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

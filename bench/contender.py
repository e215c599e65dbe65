"""One contending job: ``rounds`` times acquire any lock -> hold -> release, each operation a module run.

Run by contention.py as ``python contender.py '<json settings>'``; prints its acquisitions as JSON.
Enter/leave events go to a shared file opened with O_APPEND, after acquire returns and before
release starts, so the double-holder check reads them independently of the engine.
"""

import json
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(ROOT, 'tests'), os.path.join(ROOT, 'build', 'collections')]

from common import POOL  # noqa: E402
from support.modules import run_module  # noqa: E402


def run(args):
    """One module run, as a CI step runs it; returns (result, seconds)."""
    started = time.monotonic()
    result = run_module('pool_lock', args, timeout=None)
    if result.get('failed'):
        raise RuntimeError('pool_lock failed: %s' % result.get('msg'))
    return result, time.monotonic() - started


def record(events, kind, lock, holder):
    os.write(events, ('%s %s %s %.6f\n' % (kind, lock, holder, time.monotonic())).encode())


def main(settings):
    holder = settings['holder']
    args = dict(repo=settings['url'], cache_dir=settings['cache_dir'], pool=POOL, holder=holder,
                timeout=settings['timeout'])
    events = os.open(settings['events'], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    time.sleep(max(0.0, settings['start'] - time.monotonic()))
    acquisitions = []
    for _repetition in range(settings['rounds']):
        result, wait = run(args)
        lock = result['lock']['name']
        record(events, 'enter', lock, holder)
        entered = time.monotonic()
        time.sleep(settings['hold'])
        left = time.monotonic()
        record(events, 'leave', lock, holder)
        run(dict(args, name=lock, state='released'))
        acquisitions.append(dict(lock=lock, wait=wait, races=result['attempts'], held=left - entered))
    os.close(events)
    json.dump(dict(holder=holder, acquisitions=acquisitions, finished=time.monotonic()), sys.stdout)


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))

"""(7) What waiting costs the server: requests per waiting job per minute, and how soon a release is seen.

16 fair waiters (real ``pool_lock`` module processes, every option at its default) on 4 cache directories (4
machines) wait for the locks another holder keeps; the requests they make are counted from the git daemon's own
``--verbose`` log (one ``Request <service>`` line per connection). Then that holder, from a 5th cache directory,
releases one lock at a time, and the server's post-receive hook tells when the release landed and when the waiter at
the head of the queue landed its claim of it. Last, a release pushed from the cache a waiter shares, on the same
machine. Last, waiters SIGKILLed beside one that goes on waiting on their machine: how soon their tickets leave the
queue (the survivor sees their notes and deletes them). The baseline is the Concourse pool-resource's polling: one
``git fetch`` per ``retry_delay`` (10 s).
"""

import os
import random
import subprocess
import sys
import time

from common import POOL, Lab, median, percentile, row, target
from support.modules import run_module, start_module

CONCOURSE_PER_MINUTE = 6.0  # the pool-resource at its default retry_delay of 10s
TARGET_SEEN = 10.0  # seconds within which a release pushed from another machine is claimed by the waiter it is for
TARGET_LOCAL = 1.0  # seconds within which a release pushed from the waiter's machine is claimed
TARGET_FREED = 10.0  # seconds within which a SIGKILLed waiter's ticket is deleted by another waiter of its machine
HOOK = '#!/bin/sh\nwhile read old new ref; do echo "$(date +%s.%N) $ref"; done >> "$GIT_DIR/../pushes.log"\n'


class Server(object):
    """The lock repository as the server sees it: its daemon's request log, the pushes its hook recorded, its queue."""

    def __init__(self, lab, name, locks):
        self.lab = lab
        self.name = name
        self.bare = lab.pool_repo(name, locks)
        self.pushes_log = os.path.join(os.path.dirname(self.bare), 'pushes.log')
        hook = os.path.join(self.bare, 'hooks', 'post-receive')
        with open(hook, 'w') as handle:
            handle.write(HOOK.replace('$GIT_DIR/../pushes.log', self.pushes_log))
        os.chmod(hook, 0o755)
        self.url = lab.url(name)

    def requests(self):
        """{service: requests} the daemon has logged so far (every repository it serves)."""
        counts = {}
        with open(self.lab.daemon_log) as handle:
            for line in handle:
                if ' Request ' in line:
                    service = line.split(' Request ', 1)[1].split()[0]
                    counts[service] = counts.get(service, 0) + 1
        return counts

    def branch_pushes(self):
        """Server times (epoch seconds) of the pushes that moved the branch, in order."""
        if not os.path.exists(self.pushes_log):
            return []
        with open(self.pushes_log) as handle:
            return [float(line.split()[0]) for line in handle if line.split()[1:] == ['refs/heads/main']]

    def tickets(self):
        out = subprocess.run(['git', 'for-each-ref', '--format=%(refname)', 'refs/lockpool/queue/'], cwd=self.bare,
                             check=True, capture_output=True, text=True).stdout
        return out.split()


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError('bench: %s did not happen within %ss' % (what, timeout))
        time.sleep(0.05)


def module(server, cache, holder, **args):
    result = run_module('pool_lock', dict(args, repo=server.url, pool=POOL, cache_dir=cache, holder=holder), timeout=300)
    if result.get('failed'):
        raise RuntimeError('bench: pool_lock failed: %s' % result.get('msg'))
    return result


def start_waiters(server, lab, count, machines):
    """``count`` fair waiters for any lock, waiter i on machine i % ``machines``, started in that order of arrival."""
    waiters = []
    for index in range(count):
        waiters.append(start_module('pool_lock', dict(repo=server.url, pool=POOL, holder='waiter-%d' % index, timeout='15m',
                                                      cache_dir=lab.cache_dir('machine-%d' % (index % machines)))))
        wait_until(lambda: len(server.tickets()) == len(waiters), 60, 'the ticket of waiter-%d' % index)
    return waiters


def release_seen(server, cache, holder, lock):
    """Release ``lock`` from ``cache``; seconds from the release landing on the server to the next claim landing."""
    before = len(server.branch_pushes())
    module(server, cache, holder, name=lock, state='released')
    wait_until(lambda: len(server.branch_pushes()) >= before + 2, 120, 'the claim of %s after its release' % lock)
    pushes = server.branch_pushes()
    return pushes[before + 1] - pushes[before]


def measure(lab, waiters, machines, window, releases, local_releases):
    server = Server(lab, 'waiting.git', machines)
    locks = ['lock-%d' % index for index in range(machines)]
    far = lab.cache_dir('machine-%d' % machines)
    module(server, far, 'holder', name=locks)
    running = start_waiters(server, lab, waiters, machines)
    time.sleep(1)  # every waiter is past its first look
    counted = server.requests()
    time.sleep(window)
    during = dict((service, total - counted.get(service, 0)) for service, total in server.requests().items())
    seen = []
    for index in range(releases):  # the head of the queue is waiter-index, on machine index % machines
        time.sleep(random.uniform(0, 1))
        holder = 'holder' if index < machines else 'waiter-%d' % (index - machines)  # who the last release fed
        seen.append(release_seen(server, far, holder, locks[index % machines]))
    for waiter in running[:releases]:
        if not waiter.result(60).get('acquired'):
            raise RuntimeError('bench: a waiter did not acquire')
    for waiter in running[releases:]:
        waiter.kill()
    return dict(during=during, seen=seen, local=local_seen(lab, local_releases))


def local_seen(lab, releases):
    """Seconds from a release to the claim of a waiter that shares the releaser's cache (one machine)."""
    server = Server(lab, 'waiting-local.git', 1)
    cache = lab.cache_dir('machine-0')
    holder = 'neighbour'
    module(server, cache, holder, name='lock-0')
    seen = []
    for index in range(releases):
        waiter = start_module('pool_lock', dict(repo=server.url, pool=POOL, holder='near-%d' % index, cache_dir=cache, timeout='5m'))
        wait_until(lambda: len(server.tickets()) == 1, 60, 'the ticket of near-%d' % index)
        time.sleep(random.uniform(0.5, 1.5))
        seen.append(release_seen(server, cache, holder, 'lock-0'))
        if not waiter.result(60).get('acquired'):
            raise RuntimeError('bench: the waiter on the releasing machine did not acquire')
        holder = 'near-%d' % index
    return seen


def killed_freed(lab, kills):
    """Seconds from the SIGKILL of a waiter to the deletion of its ticket by the waiter that goes on beside it."""
    server = Server(lab, 'waiting-killed.git', 1)
    cache = lab.cache_dir('machine-0')
    module(server, lab.cache_dir('holder'), 'holder', name='lock-0')
    survivor = start_module('pool_lock', dict(repo=server.url, pool=POOL, holder='survivor', cache_dir=cache, timeout='15m'))
    wait_until(lambda: len(server.tickets()) == 1, 60, 'the ticket of the survivor')
    freed = []
    for index in range(kills):
        victim = start_module('pool_lock', dict(repo=server.url, pool=POOL, holder='victim-%d' % index, cache_dir=cache, timeout='15m'))
        wait_until(lambda: len(server.tickets()) == 2, 60, 'the ticket of victim-%d' % index)
        time.sleep(random.uniform(0, 1))
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: len(server.tickets()) == 1, 60, 'the deletion of the ticket of victim-%d' % index)
        freed.append(time.monotonic() - killed)
    survivor.kill()
    return freed


def run(quick):
    waiters, machines, window, releases, local, kills = (2, 2, 3.0, 2, 1, 1) if quick else (16, 4, 60.0, 16, 6, 6)
    with Lab(daemon_log=True) as lab:
        measured = measure(lab, waiters, machines, window, releases, local)
        freed = killed_freed(lab, kills)
    during, seen, local_seen_ = measured['during'], measured['seen'], measured['local']
    total = sum(during.values())
    per_job_minute = total / float(waiters) / (window / 60.0)
    where = '%d waiters on %d machines, %gs' % (waiters, machines, window)
    print('  %s: %d requests (%s), %.1f per waiting job per minute; release seen p50 %.2f s p99 %.2f s, same machine %.2f s;'
          ' killed waiter\'s ticket deleted p50 %.2f s, max %.2f s'
          % (where, total, ', '.join('%s %d' % item for item in sorted(during.items())), per_job_minute,
             median(seen), percentile(seen, 0.99), percentile(local_seen_, 0.99), median(freed), max(freed)), file=sys.stderr, flush=True)
    concourse = 'the Concourse pool-resource: a fetch per retry_delay of 10s'
    rows = [row('requests per waiting job per minute (%s, counted in the git daemon log)' % where, per_job_minute, '',
                CONCOURSE_PER_MINUTE, concourse),
            row('release from a 5th machine seen by the waiter at the head of the queue, p50 of %d' % len(seen), median(seen), 's',
                TARGET_SEEN, 'target'),
            row('release from a 5th machine seen by the waiter at the head of the queue, p99 of %d' % len(seen),
                percentile(seen, 0.99), 's', TARGET_SEEN, 'target'),
            row('release from the waiter\'s own machine (shared cache) seen, p99 of %d' % len(local_seen_),
                percentile(local_seen_, 0.99), 's', TARGET_LOCAL, 'target'),
            row('SIGKILLed waiter: its ticket deleted by the waiter beside it on its machine, p50 of %d' % len(freed), median(freed), 's',
                TARGET_FREED, 'target'),
            row('SIGKILLed waiter: its ticket deleted by the waiter beside it on its machine, max of %d' % len(freed), max(freed), 's',
                TARGET_FREED, 'target')]
    targets = [target('<= %g requests per waiting job per minute (%s)' % (CONCOURSE_PER_MINUTE, where), '%.1f' % per_job_minute,
                      per_job_minute <= CONCOURSE_PER_MINUTE),
               target('a release on another machine seen within %gs (p99)' % TARGET_SEEN, '%.2f s' % percentile(seen, 0.99),
                      percentile(seen, 0.99) <= TARGET_SEEN),
               target('a release on the same machine seen within %gs (p99)' % TARGET_LOCAL, '%.2f s' % percentile(local_seen_, 0.99),
                      percentile(local_seen_, 0.99) <= TARGET_LOCAL),
               target('a SIGKILLed waiter leaves the queue within %gs where another waits on its machine (max)' % TARGET_FREED,
                      '%.2f s' % max(freed), max(freed) <= TARGET_FREED)]
    return dict(title='What waiting costs the server', rows=rows, targets=targets, requests=during,
                requests_per_job_minute=per_job_minute, seen=seen, seen_locally=local_seen_, killed_freed=freed)

"""(8) Over a real network: acquire + release through a TCP proxy that delays each direction (20 ms round trip) in front
of git daemon, against the plain git floor through the same proxy; connections and round trips counted per operation.

    python bench/run.py --only network
    python bench/network.py --delay 0.025 --repetitions 11     # another distance, table on stdout
"""

import argparse
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import time

if __name__ == '__main__':
    BENCH = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [BENCH, os.path.join(os.path.dirname(BENCH), 'tests'),
                    os.path.join(os.path.dirname(BENCH), 'build', 'collections')]

from ansible_task import lock_tasks, play, playbook  # noqa: E402
from common import POOL, Lab, engine_cycle, git, median, row, target, timed  # noqa: E402
from engine_floor import git_floor_cycle  # noqa: E402
from support.modules import run_module  # noqa: E402
from support.servers import LoopbackProxy  # noqa: E402

TARGET = 1.1
ONE_WAY = 0.010  # seconds each direction: a hosted git server 20 ms away
REPETITIONS = 11
PLAYBOOK_REPETITIONS = 5


class DelayProxy(LoopbackProxy):
    """A loopback TCP proxy to ``target_port`` that delivers every chunk ``one_way`` seconds after it arrived, in order.

    A real network also costs a round trip to set up each connection (TCP's handshake; ssh and TLS add their own):
    the client's first bytes are held one more round trip, as they would reach the server that much later.
    It counts connections and round trips: a round trip is a turn of the conversation, the server answering after
    the client spoke.
    """

    def __init__(self, target_port, one_way=ONE_WAY):
        self.one_way = one_way
        self._counts = threading.Lock()
        self.connections = self.round_trips = 0
        super(DelayProxy, self).__init__(target_port, backlog=64)

    def counted(self):
        with self._counts:
            return self.connections, self.round_trips

    def connected(self, client):
        upstream = self.upstream()
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the proxy adds its delay, never Nagle's
        with self._counts:
            self.connections += 1
        turn = dict(last='server')  # who spoke last on this connection
        self._direction(client, upstream, 'client', turn, first_extra=2 * self.one_way)
        self._direction(upstream, client, 'server', turn, first_extra=0.0)

    def _direction(self, source, destination, side, turn, first_extra):
        chunks = queue.Queue()

        def read():
            extra = first_extra
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b''
                if side == 'server' and data and turn['last'] == 'client':
                    with self._counts:
                        self.round_trips += 1
                if data:
                    turn['last'] = side
                chunks.put((time.monotonic() + self.one_way + extra, data))
                extra = 0.0
                if not data:
                    return

        def write():
            while True:
                due, data = chunks.get()
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    if not data:
                        destination.shutdown(socket.SHUT_WR)
                        return
                    destination.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()


# -- what each way of making a claim + release runs ----------------------------------

MOVES = (('unclaimed', 'claimed'), ('claimed', 'unclaimed'))  # a claim, then its release


def move_and_push(work, name, source, destination):
    git('mv', '%s/%s/%s' % (POOL, source, name), '%s/%s/%s' % (POOL, destination, name), cwd=work)
    git('commit', '-q', '-m', '%s: %s' % (destination, name), cwd=work)
    git('push', '-q', 'origin', 'HEAD:main', cwd=work)


def concourse_cycle(url, scratch, name):
    """What the Concourse pool resource costs: a whole clone of the repository for each operation, then the change."""
    for source, destination in MOVES:
        work = tempfile.mkdtemp(dir=scratch)
        git('clone', '-q', url, work)
        move_and_push(work, name, source, destination)
        shutil.rmtree(work)


def module_cycle(url, cache_dir, name):
    """pool_lock's claim and release, each its own module process (fair queueing, as by default)."""
    for state in ('claimed', 'released'):
        result = run_module('pool_lock', dict(repo=url, cache_dir=cache_dir, pool=POOL, name=name, holder='bench',
                                              state=state))
        if result.get('failed'):
            raise RuntimeError('pool_lock failed: %s' % result.get('msg'))


class Way(object):
    """One way of making a claim + release: ``prepare(url, transport)`` once (returns the cycle), then the cycle per
    measurement."""

    def __init__(self, label, prepare, repetitions=REPETITIONS):
        self.label, self.prepare, self.repetitions = label, prepare, repetitions


def ways(lab):
    def work_clone(tag, protocol_v0):
        def prepare(url, transport):
            work = os.path.join(lab.path, 'work-%s-%s' % (tag, transport))
            git('clone', '-q', url, work)
            if protocol_v0:
                git('config', 'protocol.version', '0', cwd=work)  # as the engine runs git
            return lambda: git_floor_cycle(work, 'lock-0')
        return prepare

    def pushes_only(tag):
        def prepare(url, transport):
            work = os.path.join(lab.path, 'work-%s-%s' % (tag, transport))
            git('clone', '-q', url, work)

            def cycle():
                for source, destination in MOVES:
                    move_and_push(work, 'lock-0', source, destination)
            return cycle
        return prepare

    def engine(tag, cycle):
        def prepare(url, transport):
            cache_dir = lab.cache_dir('%s-%s' % (tag, transport))
            cycle(url, cache_dir, 'lock-0')  # warm: the cache exists, as after a machine's first run
            return lambda: cycle(url, cache_dir, 'lock-0')
        return prepare

    def ansible(tag):
        def prepare(url, transport):
            name = '%s-%s' % (tag, transport)
            path = playbook(os.path.join(lab.path, name + '.yml'), lock_tasks(url, lab.cache_dir(name), 2))
            play(path)  # warm
            return lambda: play(path)
        return prepare

    def concourse(tag):
        def prepare(url, transport):
            scratch = os.path.join(lab.path, '%s-%s' % (tag, transport))
            os.makedirs(scratch, exist_ok=True)
            return lambda: concourse_cycle(url, scratch, 'lock-0')
        return prepare

    return [
        Way('plain git floor: fetch, reset --hard, mv, commit, push (x2), git defaults (protocol v2)',
            work_clone('floor', False)),
        Way('plain git floor, protocol v0 (as the engine runs git)', work_clone('floor-v0', True)),
        Way('plain git, pushes only: mv, commit, push (x2), never looking at the server first', pushes_only('pushes')),
        Way('engine in process (engine_floor: fair: false)', engine('engine', engine_cycle)),
        Way('engine as 2 module processes (pool_lock, fair queueing by default)', engine('module', module_cycle)),
        Way('ansible-playbook of 2 pool_lock tasks (claim, release)', ansible('playbook'), PLAYBOOK_REPETITIONS),
        Way('Concourse-like: a full clone per operation, then mv, commit, push (x2)', concourse('concourse')),
    ]


def measure(lab, proxy, way, index):
    """{'direct': seconds, 'proxied': seconds, 'connections', 'round_trips'} of one way, repetitions interleaved."""
    cycles = {}
    for transport in ('direct', 'proxied'):
        name = 'way-%d-%s.git' % (index, transport)
        lab.pool_repo(name, 2)
        url = lab.url(name) if transport == 'direct' else proxy.url(name)
        cycles[transport] = way.prepare(url, transport)
    times = dict(direct=[], proxied=[])
    connections, round_trips = [], []
    for _repetition in range(way.repetitions):
        times['direct'].append(timed(cycles['direct']))
        before = proxy.counted()
        times['proxied'].append(timed(cycles['proxied']))
        after = proxy.counted()
        connections.append(after[0] - before[0])
        round_trips.append(after[1] - before[1])
    # Each measurement through the proxy directly follows one on loopback: the median of their differences is what
    # the network added, steadier on a busy machine than the difference of the two medians.
    added = median([proxied - direct for direct, proxied in zip(times['direct'], times['proxied'])])
    return dict(label=way.label, direct=median(times['direct']), proxied=median(times['proxied']), added=added,
                connections=median(connections), round_trips=median(round_trips), repetitions=way.repetitions)


def run(quick, one_way=ONE_WAY, repetitions=None):
    with Lab() as lab:
        proxy = DelayProxy(lab.daemon.port, one_way)
        try:
            measured = []
            for index, way in enumerate(ways(lab)):
                way.repetitions = 1 if quick else (repetitions or way.repetitions)
                measured.append(measure(lab, proxy, way, index))
                print('  %s: %.3f s direct, %.3f s through the proxy' % (way.label, measured[-1]['direct'],
                                                                         measured[-1]['proxied']), file=sys.stderr, flush=True)
        finally:
            proxy.close()
    rtt = '%g ms round trip' % (2000 * one_way)
    floor, engine = measured[0], measured[3]
    columns = ['claim + release', 'connections', 'round trips', 'loopback', 'through %s' % rtt,
               'added by the network (median of pairs)',
               '(connections + round trips) x %g ms' % (2000 * one_way), 'through the proxy / floor']
    table = [[entry['label'], '%g' % entry['connections'], '%g' % entry['round_trips'], '%.3f s' % entry['direct'],
              '%.3f s' % entry['proxied'], '%.3f s' % entry['added'],
              '%.3f s' % ((entry['connections'] + entry['round_trips']) * 2 * one_way),
              '%.2fx' % (entry['proxied'] / floor['proxied'])] for entry in measured]
    rows = [row('acquire + release through a proxy adding a %s, engine in process (median of %d)' % (rtt, engine['repetitions']),
                engine['proxied'], 's', floor['proxied'], 'plain git floor through the same proxy')]
    rows += [row('%s through the proxy' % entry['label'], entry['proxied'], 's', floor['proxied'], 'plain git floor')
             for entry in measured[4:]]
    targets = [target('engine <= %.1fx the git floor through a %s' % (TARGET, rtt),
                      '%.2fx' % (engine['proxied'] / floor['proxied']), engine['proxied'] / floor['proxied'] <= TARGET)]
    return dict(title='Over a real network', rows=rows, targets=targets, table=dict(columns=columns, rows=table),
                ways=measured, one_way=one_way)


def main(argv=None):
    import report
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--delay', type=float, default=ONE_WAY, help='seconds added in each direction')
    parser.add_argument('--repetitions', type=int, help='measurements of each way (default %d)' % REPETITIONS)
    options = parser.parse_args(argv)
    section = run(False, options.delay, options.repetitions)
    print(report.markdown(report.results({'network': section}, False)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

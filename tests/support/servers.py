"""Real servers on loopback, started and stopped by the tests."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def require_binary(binary, package):
    """Fail (never skip) when a server the tests need is not installed, naming the Debian package."""
    if not shutil.which(binary):
        raise AssertionError('%s is missing: install the Debian package %s (tests/setup/install-system-packages does it as root)'
                             % (binary, package))


def wait_for_port(port, process=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError('server exited with %s before listening on %d' % (process.returncode, port))
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('nothing listens on port %d after %ss' % (port, timeout))


def stop(process):
    """Stop ``process``; with all its children when it leads its own session (``start_new_session=True``)."""
    if process.poll() is None:
        _signal(process, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()


def _signal(process, signum):
    if os.getpgid(process.pid) == process.pid:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


class GitDaemon(object):
    """``git daemon`` serving every repository under ``base`` read-write on a free loopback port."""

    def __init__(self, base, log=None):
        self.base = str(base)
        self.port = free_port()
        self.process = None
        self.log = log  # a file that gets the daemon's --verbose log: one "Request <service> for '<path>'" line per request

    def start(self):
        with open(self.log or os.devnull, 'ab') as log:
            self.process = subprocess.Popen(
                ['git', 'daemon', '--reuseaddr', '--listen=127.0.0.1', '--port=%d' % self.port,
                 '--base-path=%s' % self.base, '--export-all', '--enable=receive-pack', '--informative-errors']
                + (['--verbose'] if self.log else []) + [self.base],
                stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull))
        wait_for_port(self.port, self.process)
        return self

    def url(self, name):
        return 'git://127.0.0.1:%d/%s' % (self.port, name)

    def stop(self):
        if self.process is not None:
            stop(self.process)

    def serving(self):
        """Pids of the processes serving clients now (``git daemon --serve`` children, receive-pack, hooks)."""
        children = {}
        for entry in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parent = int(handle.read().rsplit(')', 1)[1].split()[1])
                with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                    command = handle.read().split(b'\0')
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append((int(entry), b'--serve' in command))
        found = []
        queue = [(self.process.pid, False)]
        while queue:
            pid, serving = queue.pop()
            for child, child_serves in children.get(pid, []):
                if serving or child_serves:
                    found.append(child)
                queue.append((child, serving or child_serves))
        return found


@contextlib.contextmanager
def temporary_git_daemon(prefix):
    """(a started GitDaemon, the temporary working directory it serves from under ``served/``); both go afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        daemon = GitDaemon(os.path.join(workdir, 'served'))
        os.makedirs(daemon.base)
        daemon.start()
        try:
            yield daemon, workdir
        finally:
            daemon.stop()


def _pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class LoopbackProxy(object):
    """A TCP proxy on a free loopback port in front of ``target_port``; each connection it accepts goes to
    ``connected(client)``. Subclasses set what they need before calling this constructor, which starts serving."""

    def __init__(self, target_port, backlog=16):
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(backlog)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, name):
        return 'git://127.0.0.1:%d/%s' % (self.port, name)

    def upstream(self):
        return socket.create_connection(('127.0.0.1', self.target_port))

    def connected(self, client):
        raise NotImplementedError

    def _serve(self):
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            self.connected(client)

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()


class StallingProxy(LoopbackProxy):
    """A loopback TCP proxy to ``target_port`` that can turn into a server that hangs.

    While it forwards, bytes flow both ways. After ``stall()``, every new connection is
    accepted and then held open with nothing read and nothing answered.
    """

    def __init__(self, target_port):
        self._forward_left = float('inf')
        self._held = []
        super(StallingProxy, self).__init__(target_port)

    def stall(self, after=0):
        """Forward ``after`` more connections, then hold every later one."""
        self._forward_left = after

    def resume(self):
        self._forward_left = float('inf')

    def connected(self, client):
        if self._forward_left <= 0:
            self._held.append(client)
            return
        self._forward_left -= 1
        upstream = self.upstream()
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self):
        super(StallingProxy, self).close()
        for connection in self._held:
            connection.close()

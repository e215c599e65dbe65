"""Real servers on loopback, started and stopped by the tests."""

import os
import shutil
import signal
import socket
import subprocess
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

    def __init__(self, base):
        self.base = str(base)
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ['git', 'daemon', '--reuseaddr', '--listen=127.0.0.1', '--port=%d' % self.port,
             '--base-path=%s' % self.base, '--export-all', '--enable=receive-pack', '--informative-errors', self.base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull))
        wait_for_port(self.port, self.process)
        return self

    def url(self, name):
        return 'git://127.0.0.1:%d/%s' % (self.port, name)

    def stop(self):
        if self.process is not None:
            stop(self.process)

"""Fixtures for tests against real lock repositories and real servers."""

import pytest

from support import modules
from support.http_server import HttpGitServer
from support.pushgateway import Pushgateway
from support.repos import make_lock_repo
from support.servers import GitDaemon
from support.ssh_server import SshServer


@pytest.fixture(params=modules.PATHS)
def both_paths(request, monkeypatch):
    """Run the test with pool_lock as a module process, then with its main() in the caller as on the controller."""
    monkeypatch.setattr(modules, 'pool_lock_path', request.param)
    return request.param


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / 'cache')


@pytest.fixture
def aws_repo(tmp_path):
    """A bare lock repository with pool ``aws``: env-1 and env-2 unclaimed."""
    return make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n', 'env-2': '{"region": "us-east-1"}\n'}})


@pytest.fixture
def lock_args(aws_repo, cache_dir):
    """The connection options every module call against ``aws_repo`` needs."""
    return {'repo': aws_repo, 'cache_dir': cache_dir, 'pool': 'aws'}


@pytest.fixture(scope='session')
def git_daemon(tmp_path_factory):
    daemon = GitDaemon(tmp_path_factory.mktemp('daemon')).start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope='session')
def ssh_server(tmp_path_factory):
    """sshd on loopback; ``authorize`` a key, then reach any repository by its absolute path."""
    server = SshServer(tmp_path_factory.mktemp('sshd')).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def http_server(tmp_path_factory):
    """nginx + git http-backend with basic auth, serving the repositories under its ``root``."""
    base = tmp_path_factory.mktemp('nginx')
    root = tmp_path_factory.mktemp('http-repos')
    server = HttpGitServer(base, root).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def pushgateway():
    """Debian's prometheus-pushgateway on a free loopback port, shared by the session (tests use their own job)."""
    try:
        gateway = Pushgateway().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield gateway
    gateway.stop()

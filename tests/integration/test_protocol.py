"""How the engine talks to a server: git protocol v0, which reads a lock repository's refs in one round trip."""

import os

from support.repos import make_lock_repo

from ansible_collections.lockpool.git.plugins.module_utils._connection import Remote
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import RepoCache


def packets_of_a_read(monkeypatch, tmp_path, remote):
    """What git sent and received while the engine read the branch's head from the server."""
    trace = tmp_path / 'packets'
    monkeypatch.setenv('GIT_TRACE_PACKET', str(trace))
    with RepoCache(remote) as cache:
        head = cache.remote_head()
    assert head is not None
    return trace.read_text()


def test_the_engine_reads_refs_with_protocol_v0(git_daemon, tmp_path, monkeypatch):
    make_lock_repo(os.path.join(git_daemon.base, 'v0.git'), {'aws': {'env-1': ''}})
    remote = Remote(git_daemon.url('v0.git'), cache_dir=str(tmp_path / 'cache'))

    packets = packets_of_a_read(monkeypatch, tmp_path, remote)

    assert 'refs/heads/main' in packets
    assert 'version 2' not in packets
    assert 'command=ls-refs' not in packets


def test_git_config_can_choose_protocol_v2(git_daemon, tmp_path, monkeypatch):
    make_lock_repo(os.path.join(git_daemon.base, 'v2.git'), {'aws': {'env-1': ''}})
    remote = Remote(git_daemon.url('v2.git'), cache_dir=str(tmp_path / 'cache'), git_config={'protocol.version': 2})

    packets = packets_of_a_read(monkeypatch, tmp_path, remote)

    assert 'command=ls-refs' in packets

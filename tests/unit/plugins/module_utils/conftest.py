"""Fixtures of the logic's unit tests: a fake clock, a fake server holding the pools of lock_repos.POOLS, a fake cache."""

import pytest

from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FakeClock, FakeRepoCache, FakeServer
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import POOLS


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(clock):
    """The pools of POOLS, set up a minute ago."""
    made = FakeServer(clock)
    made.commit(POOLS, 'set up the pools\n', author='admin')
    clock.advance(60)
    return made


@pytest.fixture
def cache(server):
    """A cold cache (it has fetched nothing yet) on a machine of its own."""
    return FakeRepoCache(server)

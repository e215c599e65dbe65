"""What pool_lock_info reads of a pool (_pool_report) on an in-memory git layer: each claim's holder, token and lease,
read with as many git runs for a pool of many claims as for a pool of few."""

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Request, execute
from ansible_collections.lockpool.git.plugins.module_utils._pool_report import report_pools
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FakeRepoCache
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, released_by, renewed_by, utc

# The git layer's methods that each run git (or ls-remote) in the real layer.
GIT_RUNS = ('history', 'matching', 'added_by', 'newest_commit', 'commit_order', 'remote_refs', 'remote_head', 'fetch', 'refresh')


def big_pool(server, clock, locks):
    """Pool ``big`` of ``locks`` locks, each claimed with a token and a lease, renewed once by a commit, then another
    writer's commit on top: no claim is the head."""
    names = ['lock-%d' % index for index in range(locks)]
    server.commit(dict([('big/claimed/.gitkeep', b''), ('big/unclaimed/.gitkeep', b'')] +
                       [('big/unclaimed/' + name, b'') for name in names]), 'the big pool\n', author='admin')
    for token, name in enumerate(names, 1):
        claimed_by(server, 'bob', name, pool='big', token=token, lease_until=clock() + 600)
    for name in names:
        renewed_by(server, 'bob', name, clock() + 1200, pool='big')
    server.commit({'notes': b'later\n'}, 'another writer\n')


def git_runs(cache):
    return dict((method, cache.count(method)) for method in GIT_RUNS if cache.count(method))


def read(cache, pool):
    snapshot = inventory.current(cache)
    before = len(cache.calls)
    pools = report_pools(cache, snapshot, pool)
    cache.calls[:] = cache.calls[before:]
    return pools


def test_reading_twenty_claims_runs_git_as_often_as_reading_two(server, clock):
    big_pool(server, clock, 2)
    two = FakeRepoCache(server)
    read(two, 'big')
    big_pool(server, clock, 20)
    twenty = FakeRepoCache(server)
    locks = read(twenty, 'big')['big']['locks']
    assert [lock['expires_at'] for lock in locks] == [utc(clock() + 1200)] * 20
    assert git_runs(twenty) == git_runs(two)


def test_takeovers_and_renewals_are_told_apart_by_the_claim_they_follow_without_a_git_run_per_lock(server, cache, clock):
    claimed_by(server, 'bob', 'env-1', token=1, lease_until=clock() + 60)  # renewed: the renewal's lease holds
    renewed_by(server, 'bob', 'env-1', clock() + 900)
    claimed_by(server, 'bob', 'env-2', token=1, lease_until=clock() + 60)  # runs out, then alice takes it over
    renewed_by(server, 'bob', 'env-2', clock() + 30)
    claimed_by(server, 'bob', 'env-3', token=1, lease_until=clock() + 60)  # renewed, released, claimed again: no lease
    renewed_by(server, 'bob', 'env-3', clock() + 5000)
    released_by(server, 'bob', 'env-3')
    claimed_by(server, 'carol', 'env-3', token=2)
    clock.advance(120)
    execute(cache, Claim(Request(pool='aws', holder='alice', holder_given=True), {'name': 'env-2', 'lease': '10m'}, clock=clock))
    server.commit({'notes': b'later\n'}, 'another writer\n')
    reader = FakeRepoCache(server)
    locks = dict((lock['name'], lock) for lock in read(reader, 'aws')['aws']['locks'])
    assert [(name, locks[name]['holder'], locks[name]['token'], locks[name]['expires_at']) for name in sorted(locks)] == [
        ('env-1', 'bob', 1, utc(clock() - 120 + 900)),
        ('env-2', 'alice', 2, utc(clock() + 600)),
        ('env-3', 'carol', 2, None),
    ]
    assert not reader.count('added_by') and not reader.count('newest_commit')

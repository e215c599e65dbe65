"""Every outcome of every operation's decision, and what execute() reports, on an in-memory git layer.

Each operation decides on a snapshot of the branch as the fake server has it (``decide``); a change is then run
through the transaction (``land``) and the server's tree is what proves it. The pools: lock_repos.POOLS.
"""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import (
    InvalidInputError,
    LockNotFoundError,
    NotHolderError,
    PoolNotFoundError,
    RepositoryError,
)
from ansible_collections.lockpool.git.plugins.module_utils._layout import Delete, Write
from ansible_collections.lockpool.git.plugins.module_utils._operations import Absent, Claim, MoveLock, Present, Reap, Release, Request, execute
from ansible_collections.lockpool.git.plugins.module_utils._queue import RECHECK_EVERY
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FILE_MODE, FakeRepoCache, FakeServer
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import (
    POOLS,
    claimed_by,
    our_message,
    pool_state,
    released_by,
    renewed_by,
    utc,
)

CHANGE, NOTHING, WAIT = transaction.CHANGE, transaction.NOTHING, transaction.WAIT


def request(holder='alice', holder_given=True, pool='aws', **options):
    return Request(pool=pool, holder=holder, holder_given=holder_given, **options)


def decide(cache, operation, outside=None):
    """The operation's decision on the branch as the server has it now; ``outside`` as look_outside would say it."""
    with cache.exclusive():
        head = cache.fetch()
    return operation.decide(Snapshot(cache, head), outside)


def land(cache, operation):
    """Run ``operation`` through the transaction, never waiting; the Outcome."""
    return transaction.run(cache, operation, wait_for_lock=False, clock=cache.clock)


def moves(decision):
    return [(edit.source.path, edit.target) for edit in decision.edits]


def names(decision):
    return [lock_file.name for lock_file in decision.locks]


def claim(clock, holder='alice', holder_given=True, **params):
    return Claim(request(holder, holder_given), params, clock=clock)


# -- present ---------------------------------------------------------------------------

def test_present_adds_a_new_lock_to_unclaimed_with_its_metadata(cache, server):
    operation = Present(request(), dict(name='env-9', metadata='size: small\n'))
    decision = decide(cache, operation)
    assert decision.kind == CHANGE
    assert decision.edits == (Write('aws/unclaimed/env-9', b'size: small\n', FILE_MODE),)
    assert decision.message == 'adding unclaimed: env-9\n\nLock-Holder: alice\nLock-Pool: aws\n'
    land(cache, operation)
    assert server.files()['aws/unclaimed/env-9'] == b'size: small\n'


def test_the_first_lock_of_a_new_pool_comes_in_a_commit_after_the_pools_gitkeep_files(cache, server):
    before = server.head
    result = execute(cache, Present(request(pool='azure'), dict(name='a-1')))
    assert result['changed'] and result['commit'] == server.head and result['lock']['state'] == 'unclaimed'
    assert server.log()[:2] == ['adding unclaimed: a-1\n\nLock-Holder: alice\nLock-Pool: azure\n',
                                'adding pool: azure\n\nLock-Holder: alice\nLock-Pool: azure\n']
    assert [path for _status, path in server.objects.changes(server.head)] == ['azure/unclaimed/a-1']
    assert list(server.objects.ancestry(server.head))[2] == before
    assert sorted(path for path in server.files() if path.startswith('azure/')) == [
        'azure/claimed/.gitkeep', 'azure/unclaimed/.gitkeep', 'azure/unclaimed/a-1']


def test_in_check_mode_the_first_lock_of_a_new_pool_is_shown_with_the_pool_it_makes(cache, server):
    decision = decide(cache, Present(request(pool='azure', check_mode=True), dict(name='a-1')))
    assert sorted(decision.edits) == [Write('azure/claimed/.gitkeep', b'', FILE_MODE), Write('azure/unclaimed/.gitkeep', b'', FILE_MODE),
                                      Write('azure/unclaimed/a-1', b'', FILE_MODE)]


def test_the_first_lock_of_an_empty_repository_makes_the_branch_with_the_pool_then_the_lock(clock):
    server = FakeServer(clock)
    result = execute(FakeRepoCache(server), Present(request(), dict(name='env-1')))
    assert server.head == result['commit'] and [message.splitlines()[0] for message in server.log()] == [
        'adding unclaimed: env-1', 'adding pool: aws']
    assert sorted(server.files()) == ['aws/claimed/.gitkeep', 'aws/unclaimed/.gitkeep', 'aws/unclaimed/env-1']


def test_present_with_other_metadata_rewrites_the_lock_file(cache, server):
    operation = Present(request(), dict(name='env-1', metadata='region: ap-south-1\n'))
    decision = decide(cache, operation)
    assert decision.kind == CHANGE and decision.edits == (Write('aws/unclaimed/env-1', b'region: ap-south-1\n', FILE_MODE),)
    assert decision.message.startswith('updating: env-1\n')
    land(cache, operation)
    assert server.files()['aws/unclaimed/env-1'] == b'region: ap-south-1\n'


@pytest.mark.parametrize('metadata', ['region: eu-west-1\n', None], ids=['same metadata', 'no metadata'])
def test_present_of_a_lock_as_it_is_changes_nothing(cache, metadata):
    decision = decide(cache, Present(request(), dict(name='env-1', metadata=metadata)))
    assert decision.kind == NOTHING and decision.edits == () and names(decision) == ['env-1']


def test_an_update_of_someone_elses_claimed_lock_waits_for_its_release(cache, server):
    claimed_by(server, 'bob', 'env-1')
    decision = decide(cache, Present(request(), dict(name='env-1', metadata='x: 1\n')))
    assert decision.kind == WAIT and decision.edits == ()
    assert decision.reason == "lock 'env-1' in pool 'aws' is claimed by bob; its metadata is updated once it is released"


def test_an_update_by_a_defaulted_holder_waits_even_for_a_claim_of_that_name(cache, server):
    claimed_by(server, 'alice', 'env-1')
    decision = decide(cache, Present(request('alice', holder_given=False), dict(name='env-1', metadata='x: 1\n')))
    assert decision.kind == WAIT


def test_the_holder_may_update_its_own_claimed_lock(cache, server):
    claimed_by(server, 'alice', 'env-1')
    operation = Present(request(), dict(name='env-1', metadata='x: 1\n'))
    assert decide(cache, operation).edits == (Write('aws/claimed/env-1', b'x: 1\n', FILE_MODE),)
    land(cache, operation)
    assert server.files()['aws/claimed/env-1'] == b'x: 1\n'


def test_present_claimed_adds_the_lock_claimed_by_the_holder(cache, server):
    operation = Present(request(), dict(name='env-9', claimed=True))
    decision = decide(cache, operation)
    assert decision.edits == (Write('aws/claimed/env-9', b'', FILE_MODE),)
    assert decision.message.startswith('adding claimed: env-9\n')
    result = execute(cache, operation)
    assert (result['lock']['state'], result['lock']['holder']) == ('claimed', 'alice')
    assert pool_state(server, 'aws')['claimed'] == ['env-9']


# -- absent ----------------------------------------------------------------------------

@pytest.mark.parametrize('pool, name', [('aws', 'env-9'), ('azure', 'a-1')], ids=['no such lock', 'no such pool'])
def test_absent_of_a_lock_that_is_not_there_changes_nothing(cache, pool, name):
    decision = decide(cache, Absent(request(pool=pool), dict(name=name)))
    assert decision.kind == NOTHING and decision.locks == () and decision.before['state'] == 'absent'


def test_absent_deletes_the_lock_file(cache, server):
    operation = Absent(request(), dict(name='env-1'))
    decision = decide(cache, operation)
    assert decision.kind == CHANGE and decision.edits == (Delete('aws/unclaimed/env-1'),)
    assert decision.message == 'removing: env-1\n\nLock-Holder: alice\nLock-Pool: aws\n'
    land(cache, operation)
    assert pool_state(server, 'aws')['unclaimed'] == ['env-2', 'env-3']


def test_absent_refuses_to_remove_someone_elses_claimed_lock(cache, server):
    claimed_by(server, 'bob', 'env-1')
    with pytest.raises(NotHolderError, match=r"^cannot remove lock 'env-1' in pool 'aws': it is held by bob, not by alice \(use force to override\)$"):
        decide(cache, Absent(request(), dict(name='env-1')))


def test_absent_with_force_removes_someone_elses_claimed_lock(cache, server):
    claimed_by(server, 'bob', 'env-1')
    decision = decide(cache, Absent(request(force=True), dict(name='env-1')))
    assert decision.edits == (Delete('aws/claimed/env-1'),)


# -- claim -----------------------------------------------------------------------------

def test_a_claim_of_a_free_named_lock_moves_it_to_claimed_with_token_1(cache, server, clock):
    operation = claim(clock, name='env-1')
    decision = decide(cache, operation)
    assert decision.kind == CHANGE and moves(decision) == [('aws/unclaimed/env-1', 'aws/claimed/env-1')]
    assert decision.message == 'claiming: env-1\n\nLock-Holder: alice\nLock-Pool: aws\nLock-Token: aws/env-1 1\n'
    land(cache, operation)
    assert pool_state(server, 'aws') == {'claimed': ['env-1'], 'unclaimed': ['env-2', 'env-3']}
    assert server.files()['aws/claimed/env-1'] == b'region: eu-west-1\n'


def test_a_claim_takes_the_token_after_the_newest_recorded_one_whatever_concourse_did_since(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=7)
    released_by(server, 'bob', 'env-1')
    server.concourse_claim('aws', 'env-1')
    server.concourse_release('aws', 'env-1')
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.message.endswith('\nLock-Token: aws/env-1 8\n')


def test_a_claim_with_a_lease_records_its_expiry(cache, clock):
    decision = decide(cache, claim(clock, name='env-1', lease='30m'))
    assert decision.message.endswith('\nLock-Token: aws/env-1 1\nLock-Lease-Expires: aws/env-1 %s\n' % utc(clock() + 1800))


def test_a_claim_of_a_lock_held_by_another_waits_naming_the_holder(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.kind == WAIT and decision.edits == () and names(decision) == ['env-1']
    assert decision.reason == "lock 'env-1' in pool 'aws' is claimed by bob"
    assert decision.recheck_after is None  # not fair: only the branch moving can end this wait


@pytest.mark.parametrize('build, holder', [
    (None, 'another holder'),
    ('main/deploy/deploy-aws build 42', 'main/deploy/deploy-aws build 42'),
], ids=['plain subject', 'team/pipeline/job build prefix'])
def test_a_claim_of_a_lock_concourse_holds_waits_naming_what_concourse_said(cache, server, clock, build, holder):
    server.concourse_claim('aws', 'env-1', build=build)
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.kind == WAIT and decision.reason == "lock 'env-1' in pool 'aws' is claimed by %s" % holder


def test_a_claim_of_ones_own_lock_without_a_lease_changes_nothing(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=1)
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.kind == NOTHING and names(decision) == ['env-1']


def test_a_defaulted_holder_never_takes_a_claim_of_that_name_for_its_own(cache, server, clock):
    claimed_by(server, 'alice', 'env-1')
    assert decide(cache, claim(clock, 'alice', holder_given=False, name='env-1')).kind == WAIT


def test_a_claim_of_ones_own_lock_with_a_lease_renews_it_in_a_commit_where_the_server_refuses_lease_refs(cache, server, clock):
    server.refused_prefixes.append('refs/lockpool/leases/')
    claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + 600)
    clock.advance(300)
    operation = claim(clock, name='env-1', lease='1h')
    operation.refs_refused(decide(cache, operation))
    decision = decide(cache, operation)
    assert decision.kind == CHANGE and decision.edits == ()
    assert decision.message == 'renewing: env-1\n\nLock-Holder: alice\nLock-Pool: aws\nLock-Lease-Expires: aws/env-1 %s\n' % utc(clock() + 3600)
    files = server.files()
    result = execute(cache, operation)
    assert server.files() == files
    assert (result['lock']['expires_at'], result['lock']['token'], result['lock']['holder']) == (utc(clock() + 3600), 1, 'alice')


def test_a_renewal_with_the_token_of_an_earlier_claim_is_refused(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=3)
    with pytest.raises(NotHolderError, match=r"^cannot renew lock 'env-1' in pool 'aws' with token 2: "
                                             r"that claim is over, it is claimed again with token 3 by alice$"):
        decide(cache, claim(clock, name='env-1', lease='1h', token=2))


def test_a_renewal_with_the_current_token_renews(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=3)
    assert decide(cache, claim(clock, name='env-1', lease='1h', token=3)).kind == CHANGE


def test_a_renewal_with_a_token_is_refused_once_that_claim_is_over_and_the_lock_free(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=3)
    released_by(server, 'reaper', 'env-1')
    with pytest.raises(NotHolderError, match='that claim is over, it is not claimed any more'):
        decide(cache, claim(clock, name='env-1', lease='1h', token=3))


def test_an_anonymous_claim_takes_count_free_locks_whose_metadata_matches_in_one_commit(cache, server, clock):
    operation = claim(clock, count=2, match={'region': 'eu-west-1'})
    decision = decide(cache, operation)
    assert decision.kind == CHANGE
    assert sorted(moves(decision)) == [('aws/unclaimed/env-1', 'aws/claimed/env-1'), ('aws/unclaimed/env-3', 'aws/claimed/env-3')]
    assert decision.message.split('\n', 1)[0] in ('claiming: env-1, env-3', 'claiming: env-3, env-1')
    assert 'Lock-Token: aws/env-1 1' in decision.message.splitlines() and 'Lock-Token: aws/env-3 1' in decision.message.splitlines()
    land(cache, operation)
    assert pool_state(server, 'aws') == {'claimed': ['env-1', 'env-3'], 'unclaimed': ['env-2']}


@pytest.mark.parametrize('params, reason', [
    (dict(count=3, match={'region': 'eu-west-1'}), "fewer than 3 locks in pool 'aws' with {'region': 'eu-west-1'} are free"),
    (dict(match={'region': 'mars'}), "no lock in pool 'aws' with {'region': 'mars'} is free"),
    (dict(count=4), "fewer than 4 locks in pool 'aws' are free"),
])
def test_an_anonymous_claim_waits_when_too_few_locks_are_free_saying_so(cache, clock, params, reason):
    decision = decide(cache, claim(clock, **params))
    assert decision.kind == WAIT and decision.locks == () and decision.reason == reason


def test_an_anonymous_claim_of_a_pool_with_every_lock_claimed_waits(cache, server, clock):
    for name in ('env-1', 'env-2', 'env-3'):
        claimed_by(server, 'bob', name)
    assert decide(cache, claim(clock)).reason == "no lock in pool 'aws' is free"


def test_a_fair_claim_waits_while_earlier_waiters_want_the_free_locks_and_decides_again_soon(cache, clock):
    decision = decide(cache, claim(clock, name='env-1'), outside=3)
    assert decision.kind == WAIT and decision.recheck_after == RECHECK_EVERY
    assert decision.reason == 'earlier waiters of the fair queue want 3 locks of pool aws first'


def test_a_fair_claim_takes_what_earlier_waiters_leave_over(cache, clock):
    assert decide(cache, claim(clock, name='env-1'), outside=2).kind == CHANGE


def test_a_fair_wait_for_a_claimed_lock_is_decided_again_soon(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    assert decide(cache, claim(clock, name='env-1'), outside=0).recheck_after == RECHECK_EVERY


def test_a_claim_of_a_lock_that_does_not_exist_fails(cache, clock):
    with pytest.raises(LockNotFoundError, match="^lock 'env-9' does not exist in pool 'aws'$"):
        decide(cache, claim(clock, name='env-9'))


def test_a_claim_in_a_pool_that_does_not_exist_fails(cache, clock):
    with pytest.raises(PoolNotFoundError, match="^pool 'azure' does not exist"):
        decide(cache, Claim(request(pool='azure'), dict(name='a-1'), clock=clock))


@pytest.mark.parametrize('params', [dict(name='env-1', count=2), dict(name='env-1', match={'region': 'eu-west-1'})])
def test_a_name_with_count_or_match_is_refused_when_the_claim_is_made(clock, params):
    with pytest.raises(InvalidInputError, match='^name cannot be combined with count or match'):
        claim(clock, **params)


def test_several_named_locks_are_claimed_in_one_commit_with_a_token_each(cache, server, clock):
    operation = claim(clock, name=['env-1', 'env-2'])
    decision = decide(cache, operation)
    assert decision.message == ('claiming: env-1, env-2\n\nLock-Holder: alice\nLock-Pool: aws\n'
                                'Lock-Token: aws/env-1 1\nLock-Token: aws/env-2 1\n')
    land(cache, operation)
    assert pool_state(server, 'aws')['claimed'] == ['env-1', 'env-2'] and len(server.log()) == 2


def test_several_named_locks_wait_together_while_one_is_held_by_another(cache, server, clock):
    claimed_by(server, 'bob', 'env-2')
    decision = decide(cache, claim(clock, name=['env-1', 'env-2']))
    assert decision.kind == WAIT and decision.reason == "lock 'env-2' in pool 'aws' is claimed by bob" and names(decision) == ['env-1', 'env-2']


# -- release ---------------------------------------------------------------------------

def test_a_release_of_a_free_lock_changes_nothing(cache):
    decision = decide(cache, Release(request(), dict(name='env-1')))
    assert decision.kind == NOTHING and names(decision) == ['env-1']


def test_the_holder_releases_its_claim(cache, server):
    claimed_by(server, 'alice', 'env-1', token=1)
    operation = Release(request(), dict(name='env-1'))
    decision = decide(cache, operation)
    assert moves(decision) == [('aws/claimed/env-1', 'aws/unclaimed/env-1')]
    assert decision.message == 'unclaiming: env-1\n\nLock-Holder: alice\nLock-Pool: aws\n'
    land(cache, operation)
    assert pool_state(server, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2', 'env-3']}


def test_a_release_of_someone_elses_claim_is_refused(cache, server):
    claimed_by(server, 'bob', 'env-1')
    with pytest.raises(NotHolderError, match=r"^cannot release lock 'env-1' in pool 'aws': it is held by bob, not by alice \(use force to override\)$"):
        decide(cache, Release(request(), dict(name='env-1')))


@pytest.mark.parametrize('options', [dict(holder_given=False), dict(force=True)], ids=['defaulted holder, as Concourse', 'force'])
def test_someone_elses_claim_is_released_by_a_defaulted_holder_or_with_force(cache, server, options):
    claimed_by(server, 'bob', 'env-1')
    assert moves(decide(cache, Release(request(**options), dict(name='env-1')))) == [('aws/claimed/env-1', 'aws/unclaimed/env-1')]


def test_a_release_with_the_token_of_a_claim_that_is_over_is_refused(cache, server):
    claimed_by(server, 'alice', 'env-1', token=7)
    released_by(server, 'reaper', 'env-1')
    claimed_by(server, 'bob', 'env-1', token=8)
    with pytest.raises(NotHolderError, match="^cannot release lock 'env-1' in pool 'aws' with token 7: "
                                             "that claim is over, it is claimed again with token 8 by bob$"):
        decide(cache, Release(request('alice', holder_given=False), dict(name='env-1', token=7)))


def test_a_release_with_a_token_of_a_lock_no_longer_claimed_is_refused(cache, server):
    claimed_by(server, 'alice', 'env-1', token=7)
    released_by(server, 'reaper', 'env-1')
    with pytest.raises(NotHolderError, match='with token 7: that claim is over, it is not claimed any more$'):
        decide(cache, Release(request(), dict(name='env-1', token=7)))


def test_several_locks_are_released_in_one_commit(cache, server):
    claimed_by(server, 'alice', 'env-1')
    claimed_by(server, 'alice', 'env-2')
    operation = Release(request(), dict(name=['env-1', 'env-2']))
    decision = decide(cache, operation)
    assert decision.message.startswith('unclaiming: env-1, env-2\n') and len(decision.edits) == 2
    commits = len(server.log())
    land(cache, operation)
    assert len(server.log()) == commits + 1 and pool_state(server, 'aws')['claimed'] == []


# -- move ------------------------------------------------------------------------------

def test_a_lock_moves_to_another_pool_unclaimed_in_one_commit(cache, server):
    operation = MoveLock(request(), dict(name='env-1', to_pool='gcp'))
    decision = decide(cache, operation)
    assert moves(decision) == [('aws/unclaimed/env-1', 'gcp/unclaimed/env-1')]
    assert decision.message == 'moving: env-1\n\nLock-Holder: alice\nLock-Pool: aws\nLock-To-Pool: gcp\nLock-Token: gcp/env-1 0\n'
    land(cache, operation)
    assert pool_state(server, 'gcp')['unclaimed'] == ['env-1', 'g-1'] and server.files()['gcp/unclaimed/env-1'] == b'region: eu-west-1\n'


def test_a_moved_lock_carries_its_token_count_into_the_other_pool(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4)
    released_by(server, 'bob', 'env-1')
    land(cache, MoveLock(request(), dict(name='env-1', to_pool='gcp')))
    assert server.message().endswith('\nLock-Token: gcp/env-1 4\n')
    decision = decide(cache, Claim(request(pool='gcp'), dict(name='env-1'), clock=clock))
    assert decision.message.endswith('\nLock-Token: gcp/env-1 5\n')


def test_a_lock_already_moved_is_not_moved_again(cache):
    operation = MoveLock(request(), dict(name='env-1', to_pool='gcp'))
    land(cache, operation)
    decision = decide(cache, operation)
    assert decision.kind == NOTHING and [(lock.pool, lock.name) for lock in decision.locks] == [('gcp', 'env-1')]


def test_a_move_onto_a_lock_of_that_name_in_the_other_pool_is_refused(cache, server):
    server.commit({'gcp/unclaimed/env-1': b''}, 'adding unclaimed: env-1\n')
    with pytest.raises(InvalidInputError, match="^cannot move lock 'env-1' to pool 'gcp': that pool already has a lock of that name$"):
        decide(cache, MoveLock(request(), dict(name='env-1', to_pool='gcp')))


def test_a_move_of_someone_elses_claimed_lock_waits_for_its_release(cache, server):
    claimed_by(server, 'bob', 'env-1')
    decision = decide(cache, MoveLock(request(holder_given=False), dict(name='env-1', to_pool='gcp')))
    assert decision.kind == WAIT and decision.reason == "lock 'env-1' in pool 'aws' is claimed by bob; it is moved once it is released"


def test_a_named_holder_moving_someone_elses_claimed_lock_is_refused(cache, server):
    claimed_by(server, 'bob', 'env-1')
    with pytest.raises(NotHolderError, match="^cannot move lock 'env-1' in pool 'aws': it is held by bob, not by alice"):
        decide(cache, MoveLock(request(), dict(name='env-1', to_pool='gcp')))


def test_the_holder_moves_its_claimed_lock_which_arrives_unclaimed(cache, server):
    claimed_by(server, 'alice', 'env-1')
    assert moves(decide(cache, MoveLock(request(), dict(name='env-1', to_pool='gcp')))) == [('aws/claimed/env-1', 'gcp/unclaimed/env-1')]


def test_a_move_within_the_same_pool_is_refused_when_the_move_is_made():
    with pytest.raises(InvalidInputError, match="^to_pool must be another pool than pool 'aws'$"):
        MoveLock(request(), dict(name='env-1', to_pool='aws'))


def test_a_move_to_a_pool_that_does_not_exist_fails(cache):
    with pytest.raises(PoolNotFoundError, match="^pool 'azure' does not exist"):
        decide(cache, MoveLock(request(), dict(name='env-1', to_pool='azure')))


# -- reap ------------------------------------------------------------------------------

def reap(clock, older_than=None, team=None):
    return Reap(request('reaper', team=team), dict(older_than=older_than), clock=clock)


def test_a_claim_whose_lease_has_expired_is_reaped(cache, server, clock):
    claimed_at = clock()
    claimed_by(server, 'bob', 'env-1', token=3, lease_until=claimed_at + 600)
    clock.advance(600)
    operation = reap(clock)
    decision = decide(cache, operation)
    assert decision.kind == CHANGE and moves(decision) == [('aws/claimed/env-1', 'aws/unclaimed/env-1')]
    assert decision.message == 'unclaiming: env-1\n\nLock-Holder: reaper\nLock-Pool: aws\nLock-Reaped: aws/env-1 lease-expired\n'
    assert decision.found == [dict(name='env-1', holder='bob', team=None, claimed_at=utc(claimed_at), token=3,
                                   expires_at=utc(claimed_at + 600), reason='lease-expired')]
    land(cache, operation)
    assert pool_state(server, 'aws')['claimed'] == []


def test_a_claim_whose_lease_has_not_expired_is_not_reaped(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', lease_until=clock() + 600)
    clock.advance(599)
    decision = decide(cache, reap(clock))
    assert decision.kind == NOTHING and decision.found == []


def test_a_renewed_lease_counts_from_the_renewal(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', lease_until=clock() + 600)
    renewed_by(server, 'bob', 'env-1', lease_until=clock() + 1200)
    clock.advance(900)
    assert decide(cache, reap(clock)).kind == NOTHING


def test_with_older_than_a_claim_made_longer_ago_is_reaped_concourses_included(cache, server, clock):
    claimed_at = clock()
    server.concourse_claim('aws', 'env-1', build='main/deploy/deploy-aws build 42')
    clock.advance(3600)
    decision = decide(cache, reap(clock, older_than='1h'))
    assert decision.found == [dict(name='env-1', holder='main/deploy/deploy-aws build 42', team='main', claimed_at=utc(claimed_at),
                                   token=None, expires_at=None, reason='older-than')]
    assert decision.message.endswith('\nLock-Reaped: aws/env-1 older-than\n')


def test_without_older_than_a_claim_without_a_lease_is_never_reaped(cache, server, clock):
    server.concourse_claim('aws', 'env-1')
    clock.advance(10 * 365 * 86400)
    assert decide(cache, reap(clock)).kind == NOTHING


def test_a_reap_for_a_team_releases_only_that_teams_stale_claims(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', team='platform', lease_until=clock() + 60)
    claimed_by(server, 'carol', 'env-2', team='data', lease_until=clock() + 60)
    clock.advance(61)
    decision = decide(cache, reap(clock, team='platform'))
    assert [found['name'] for found in decision.found] == ['env-1'] and moves(decision) == [('aws/claimed/env-1', 'aws/unclaimed/env-1')]


def test_several_stale_claims_are_reaped_in_one_commit(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', lease_until=clock() + 60)
    claimed_by(server, 'carol', 'env-3', lease_until=clock() + 60)
    clock.advance(61)
    decision = decide(cache, reap(clock))
    assert decision.message.startswith('unclaiming: env-1, env-3\n') and len(decision.edits) == 2


def test_a_reap_with_nothing_stale_changes_nothing_and_found_nothing(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    decision = decide(cache, reap(clock, older_than='1h'))
    assert decision.kind == NOTHING and decision.found == [] and decision.edits == ()


def test_the_holders_metadata_update_keeps_its_claims_token_and_lease(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=5, lease_until=clock() + 600)
    land(cache, Present(request(), dict(name='env-1', metadata='x: 1\n')))
    clock.advance(601)
    decision = decide(cache, reap(clock))
    assert [(found['token'], found['reason']) for found in decision.found] == [(5, 'lease-expired')]


# -- what execute() reports ------------------------------------------------------------

class ClaimThatCannotReport(Claim):
    """A claim whose result cannot be made once it landed (whatever fails between the push and the result)."""

    def result(self, decision, snapshot, commit):
        raise RepositoryError('cannot read the cache')


def test_a_claim_that_landed_but_cannot_be_reported_is_given_back_and_the_task_fails_saying_so(cache, server, clock):
    operation = ClaimThatCannotReport(Request('aws', 'alice', True), dict(name='env-1', fair=False), clock=clock)
    with pytest.raises(RepositoryError, match=r"cannot read the cache; what it had just claimed \(env-1\) was given back"):
        execute(cache, operation)
    assert pool_state(server, 'aws')['claimed'] == []


def test_a_landed_claim_reports_the_lock_as_it_is_now_with_the_diff(cache, server, clock):
    result = execute(cache, claim(clock, name='env-1', lease='1h'))
    assert result['changed'] and result['acquired'] and result['commit'] == server.head and result['attempts'] == 0
    lock = result['lock']
    assert (lock['name'], lock['pool'], lock['state'], lock['holder'], lock['token']) == ('env-1', 'aws', 'claimed', 'alice', 1)
    assert (lock['metadata'], lock['data'], lock['commit']) == ('region: eu-west-1\n', {'region': 'eu-west-1'}, server.head)
    assert lock['expires_at'] == utc(clock() + 3600)
    assert result['locks'] == [lock] and 'waiting_for' not in result
    assert result['diff'] == dict(before='state: unclaimed\n', after='state: claimed\nholder: alice\n',
                                  before_header='aws/unclaimed/env-1', after_header='aws/claimed/env-1')


def test_a_claim_that_waits_reports_what_it_waits_for_and_nothing_acquired(cache, server, clock):
    claimed_by(server, 'bob', 'env-1')
    result = execute(cache, Claim(request(wait=False), dict(name='env-1'), clock=clock))
    assert not result['changed'] and not result['acquired'] and result['commit'] is None
    assert result['waiting_for'] == "lock 'env-1' in pool 'aws' is claimed by bob"
    assert (result['lock']['state'], result['lock']['holder']) == ('claimed', 'bob')


def test_an_anonymous_claim_that_waits_reports_no_lock(cache, server, clock):
    for name in ('env-1', 'env-2', 'env-3'):
        claimed_by(server, 'bob', name)
    result = execute(cache, Claim(request(wait=False), dict(), clock=clock))
    assert result['lock'] is None and result['locks'] == [] and result['waiting_for'] == "no lock in pool 'aws' is free"


def test_a_claim_in_check_mode_reports_the_change_it_would_make_and_pushes_nothing(cache, server, clock):
    head = server.head
    result = execute(cache, Claim(request(check_mode=True), dict(count=1, match={'region': 'us-east-1'}), clock=clock))
    assert result['changed'] and result['commit'] is None and not result['acquired'] and server.head == head
    assert (result['lock']['name'], result['lock']['state']) == ('env-2', 'unclaimed')
    assert cache.count('push') == 0


def test_a_lock_added_in_check_mode_is_reported_as_it_would_be(cache, server):
    head = server.head
    result = execute(cache, Present(request(check_mode=True), dict(name='env-9')))
    assert result['changed'] and result['lock']['state'] == 'unclaimed' and server.head == head


def test_nothing_to_do_reports_no_change_and_no_wait(cache):
    result = execute(cache, Release(request(), dict(name='env-1')))
    assert not result['changed'] and result['commit'] is None and 'waiting_for' not in result
    assert result['diff']['before'] == result['diff']['after'] == 'state: unclaimed\n'


def test_the_diff_headers_name_every_lock_of_the_commit(cache, clock):
    result = execute(cache, claim(clock, name=['env-1', 'env-2']))
    assert result['diff']['before_header'] == 'aws/unclaimed/env-1, aws/unclaimed/env-2'
    assert result['diff']['after_header'] == 'aws/claimed/env-1, aws/claimed/env-2'
    assert [lock['name'] for lock in result['locks']] == ['env-1', 'env-2'] and result['lock'] == result['locks'][0]


def test_a_moved_lock_is_reported_in_its_new_pool(cache):
    result = execute(cache, MoveLock(request(), dict(name='env-1', to_pool='gcp')))
    assert result['changed'] and (result['lock']['pool'], result['lock']['state']) == ('gcp', 'unclaimed')


def test_a_reap_reports_the_claims_it_released(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', lease_until=clock() + 60)
    clock.advance(61)
    result = execute(cache, reap(clock))
    assert result['changed'] and [found['name'] for found in result['released']] == ['env-1']


def test_a_reap_with_nothing_stale_reports_nothing_released(cache, clock):
    result = execute(cache, reap(clock))
    assert not result['changed'] and result['released'] == []


def test_our_messages_are_what_lock_repos_writes_for_other_runs(cache, server, clock):
    """lock_repos.our_message stands for other runs of ours: it must write what we write."""
    land(cache, claim(clock, name='env-1'))
    assert server.message() == our_message('claiming: env-1', 'alice', 'aws', trailers=[('Lock-Token', 'aws/env-1 1')])
    assert POOLS['aws/unclaimed/env-1'] == server.files()['aws/claimed/env-1']


# -- names another tool gave (issue 21) -------------------------------------------------------------------------

def test_a_release_gives_back_a_lock_named_head_that_a_claim_of_any_lock_took(clock):
    server = FakeServer(clock)
    server.commit({'aws/claimed/.gitkeep': b'', 'aws/unclaimed/head': b''}, 'set up by Concourse\n', author='concourse')
    cache = FakeRepoCache(server)
    assert execute(cache, claim(clock))['lock']['name'] == 'head'
    assert execute(cache, Release(request(), dict(name='head')))['changed']
    assert pool_state(server, 'aws') == {'claimed': [], 'unclaimed': ['head']}


def test_a_claim_of_any_lock_skips_a_lock_whose_name_its_commit_cannot_carry(clock):
    server = FakeServer(clock)
    server.commit({'aws/claimed/.gitkeep': b'', 'aws/unclaimed/a\nb': b'', 'aws/unclaimed/ok': b''}, 'by hand\n', author='admin')
    for _attempt in range(5):
        decision = decide(FakeRepoCache(server), claim(clock))
        assert names(decision) == ['ok']


def test_present_refuses_a_lock_name_concourse_cannot_read_in_a_pool_concourse_writes(clock):
    server = FakeServer(clock)
    server.commit({'aws/claimed/.gitkeep': b''}, 'set up by hand\n', author='admin')
    executable = {'aws/unclaimed/env-1': (0o100755, server.objects.store_blob(b''))}  # as Concourse's out writes a lock
    server.refs[server.branch_ref] = server.objects.write_commit(server.head, executable, 'adding unclaimed: env-1\n', 'concourse', clock())
    with pytest.raises(InvalidInputError, match="cannot add lock 'env 7' to pool 'aws', which Concourse writes to"):
        decide(FakeRepoCache(server), Present(request(), dict(name='env 7')))

"""Leases that run out, renewals outside the branch, and tasks that must stop: on an in-memory git layer.

An expired lease is free: a claim takes it over in one commit that changes no file, with a larger token. A renewal
is a ref outside the branch. A task whose Lifetime says stop gives up its wait, leaves the queue, and gives back a
claim that landed as it was stopped.
"""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, NotHolderError, TaskStoppedError
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import LOOK_EVERY, Lifetime
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Release, Request, execute, keep_renewed
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, pool_state, released_by, utc

CHANGE, WAIT = transaction.CHANGE, transaction.WAIT


def request(holder='alice', **options):
    return Request(pool='aws', holder=holder, holder_given=True, **options)


def claim(clock, holder='alice', **params):
    return Claim(request(holder, wait=params.pop('wait', False)), params, clock=clock)


def release(holder, **params):
    return Release(request(holder), params)


def decide(cache, operation, outside=None):
    with cache.exclusive():
        head = cache.fetch()
    return operation.decide(Snapshot(cache, head), outside)


def lease_refs(server):
    return sorted(ref for ref in server.refs if ref.startswith('refs/lockpool/leases/'))


def describe(cache, name):
    with cache.exclusive():
        head = cache.fetch()
    return inventory.describe_claim(Snapshot(cache, head), 'aws', name)


# -- an expired lease is free -----------------------------------------------------------

def test_a_claim_of_a_lock_whose_lease_ran_out_takes_it_over_in_one_commit_that_changes_no_file(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(61)
    files = server.files()
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.kind == CHANGE and decision.edits == ()
    assert 'Lock-Claim-Expired: aws/env-1 4@%s' % utc(clock() - 1) in decision.message.splitlines()
    result = execute(cache, claim(clock, name='env-1'))
    assert server.files() == files
    assert (result['acquired'], result['lock']['holder'], result['lock']['token']) == (True, 'alice', 5)


def test_the_old_holder_cannot_release_a_claim_that_was_taken_over(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(61)
    execute(cache, claim(clock, name='env-1'))
    with pytest.raises(NotHolderError, match="with token 4: that claim is over, it is claimed again with token 5"):
        execute(cache, release('bob', name='env-1', token=4))
    assert pool_state(server, 'aws')['claimed'] == ['env-1']


def test_readers_name_the_holder_that_took_over(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(61)
    execute(cache, claim(clock, name='env-1', lease='10m'))
    claimed_by(server, 'carol', 'env-2', token=1)  # a later claim of another lock: the takeover is no longer the head
    lock = describe(cache, 'env-1')
    assert (lock['holder'], lock['token'], lock['expires_at'], lock['expired']) == ('alice', 5, utc(clock() + 600), False)


def test_a_claim_of_any_lock_takes_over_an_expired_claim_only_when_no_lock_is_free(cache, server, clock):
    for token, name in enumerate(['env-1', 'env-2'], 1):
        claimed_by(server, 'bob', name, token=token, lease_until=clock() + 60)
    clock.advance(61)
    assert [edit.source.name for edit in decide(cache, claim(clock)).edits] == ['env-3']
    claimed_by(server, 'carol', 'env-3')
    decision = decide(cache, claim(clock))
    assert decision.kind == CHANGE and decision.edits == () and decision.locks[0].name in ('env-1', 'env-2')


def test_a_lease_that_has_not_run_out_keeps_its_lock(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(59)
    assert decide(cache, claim(clock, name='env-1')).kind == WAIT


def test_a_claim_without_a_lease_never_runs_out(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4)
    clock.advance(10 ** 6)
    assert decide(cache, claim(clock, name='env-1')).kind == WAIT


# -- renewals outside the branch ------------------------------------------------------------

def test_a_renewal_is_a_ref_outside_the_branch_and_moves_no_branch(cache, server, clock):
    claim_sha = claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + 600)
    head = server.head
    clock.advance(300)
    result = execute(cache, claim(clock, name='env-1', lease='1h', token=1))
    assert server.head == head and result['changed'] and result['commit'] is None
    assert lease_refs(server) == ['refs/lockpool/leases/%s/aws/env-1/1-%d' % (server.branch, int(clock() + 3600))]
    assert server.refs[lease_refs(server)[0]] == claim_sha
    assert result['lock']['expires_at'] == utc(clock() + 3600)


def test_a_renewal_replaces_the_claims_earlier_renewal(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + 600)
    execute(cache, claim(clock, name='env-1', lease='1h', token=1))
    clock.advance(300)
    execute(cache, claim(clock, name='env-1', lease='1h', token=1))
    assert lease_refs(server) == ['refs/lockpool/leases/%s/aws/env-1/1-%d' % (server.branch, int(clock() + 3600))]


def test_a_renewed_lease_keeps_its_lock_after_the_lease_its_claim_recorded(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    execute(cache, claim(clock, 'bob', name='env-1', lease='10m', token=4))
    clock.advance(120)
    decision = decide(cache, claim(clock, name='env-1'))
    assert decision.kind == WAIT and decision.reason == "lock 'env-1' in pool 'aws' is claimed by bob"


def test_a_renewal_of_an_earlier_claims_token_means_nothing_to_the_claim_that_took_over(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(61)
    execute(cache, claim(clock, name='env-1', lease='2m'))
    server.refs['refs/lockpool/leases/%s/aws/env-1/4-%d' % (server.branch, int(clock() + 10 ** 6))] = server.head
    clock.advance(121)
    assert decide(cache, claim(clock, 'carol', name='env-1')).kind == CHANGE


def test_a_renewal_after_the_lease_ran_out_is_refused_the_lock_being_free(cache, server, clock):
    claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + 60)
    clock.advance(61)
    with pytest.raises(NotHolderError, match="^cannot renew lock 'env-1' in pool 'aws' with token 1: its lease ran out at %s, so the lock is free$"
                       % utc(clock() - 1)):
        decide(cache, claim(clock, name='env-1', lease='1h', token=1))


def test_a_server_that_refuses_lease_refs_gets_a_renewal_commit_and_a_warning(cache, server, clock):
    server.refused_prefixes.append('refs/lockpool/leases/')
    claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + 600)
    operation = claim(clock, name='env-1', lease='1h', token=1)
    result = execute(cache, operation)
    assert server.message(server.head).startswith('renewing: env-1\n') and result['lock']['expires_at'] == utc(clock() + 3600)
    assert 'refused the lease renewal refs' in operation.warnings()[0]


# -- a task that must stop ------------------------------------------------------------------

class Controller(object):
    """A controller process as a Lifetime sees it: alive until the test says it is gone."""

    pid = 4242

    def __init__(self):
        self.gone = False

    def alive(self):
        return not self.gone


def test_a_waiting_claim_whose_controller_is_gone_gives_up_within_a_look_and_claims_nothing(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=1)
    controller, started = Controller(), clock()
    clock.call_after(30, lambda: setattr(controller, 'gone', True))
    clock.call_after(40, lambda: released_by(server, 'bob', 'env-1'))
    with pytest.raises(TaskStoppedError, match='^gave up: the ansible-playbook process 4242 that ran it is gone$'):
        execute(cache, claim(clock, name='env-1', wait=True, fair=False), lifetime=Lifetime(controller, clock=clock, sleep=clock.advance))
    assert clock() - started <= 30 + LOOK_EVERY
    clock.advance(20)
    assert pool_state(server, 'aws')['claimed'] == []


def test_a_task_stopped_by_a_signal_gives_up_its_wait_at_once(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=1)
    lifetime, started = Lifetime(clock=clock, sleep=clock.advance), clock()
    clock.call_after(30, lambda: setattr(lifetime, 'stopped', 'it was stopped by SIGTERM'))
    with pytest.raises(TaskStoppedError, match='^gave up: it was stopped by SIGTERM$'):
        execute(cache, claim(clock, name='env-1', wait=True, fair=False), lifetime=lifetime)
    assert clock() - started <= 30.1


def test_a_claim_that_lands_as_its_task_is_stopped_is_given_back(cache, server, clock):
    lifetime = Lifetime(clock=clock)

    class StopAtPush(transaction.Observer):
        def reached(self, phase):
            if phase == 'after-push':
                lifetime.stopped = 'it was stopped by SIGTERM'

    with pytest.raises(TaskStoppedError, match=r"^gave up: it was stopped by SIGTERM; what it had just claimed \(env-1\) was given back$"):
        execute(cache, claim(clock, name='env-1'), observer=StopAtPush(), lifetime=lifetime)
    assert pool_state(server, 'aws')['claimed'] == []
    assert server.message(server.head).startswith('unclaiming: env-1\n')


# -- kept renewed while the play lives --------------------------------------------------------

def held_lease(server, clock, lease=30):
    claimed_by(server, 'alice', 'env-1', token=1, lease_until=clock() + lease)
    return claim(clock, name='env-1', lease='%ds' % lease, token=1, keep_renewed=True)


def test_a_kept_lease_is_renewed_every_third_of_it_until_the_claim_is_released_elsewhere(cache, server, clock):
    operation = held_lease(server, clock)
    clock.call_after(35, lambda: released_by(server, 'alice', 'env-1'))
    result = keep_renewed(cache, operation, Lifetime(Controller(), clock=clock, sleep=clock.advance), clock=clock)
    assert result['renewals'] == 4 and 'that claim is over, it is not claimed any more' in result['ended']
    assert lease_refs(server) == []  # the claim is over: its renewal goes with it


def test_a_kept_lease_stops_being_renewed_once_the_play_is_gone_and_then_runs_out(cache, server, clock):
    operation, controller = held_lease(server, clock), Controller()
    clock.call_after(25, lambda: setattr(controller, 'gone', True))
    result = keep_renewed(cache, operation, Lifetime(controller, clock=clock, sleep=clock.advance), clock=clock)
    assert result['renewals'] == 3 and result['ended'].endswith('the lease runs out by itself')
    stopped = clock()
    clock.advance(30 - (stopped % 1) + 1)
    assert decide(cache, claim(clock, 'bob', name='env-1')).kind == CHANGE


def test_a_kept_lease_without_a_controller_to_watch_is_renewed_once_only(cache, server, clock):
    result = keep_renewed(cache, held_lease(server, clock), Lifetime(clock=clock, sleep=clock.advance), clock=clock)
    assert result['renewals'] == 1 and result['ended'].startswith('renewed once, not while the play lives')
    assert len(lease_refs(server)) == 1


def test_keep_renewed_needs_the_lease_and_the_token_of_each_lock():
    with pytest.raises(InvalidInputError, match='^keep_renewed needs the lease'):
        Claim(request(), dict(name='env-1', token=1, keep_renewed=True))


def test_a_claim_that_lands_as_its_controller_dies_is_given_back_even_just_after_a_look(cache, server, clock):
    controller = Controller()
    lifetime = Lifetime(controller, clock=clock)

    class DieAtPush(transaction.Observer):
        def reached(self, phase):
            if phase == 'after-push':
                controller.gone = True  # less than a LOOK_EVERY after the look before the attempt

    with pytest.raises(TaskStoppedError, match=r'is gone; what it had just claimed \(env-1\) was given back$'):
        execute(cache, claim(clock, name='env-1'), observer=DieAtPush(), lifetime=lifetime)
    assert pool_state(server, 'aws')['claimed'] == []


def test_a_claim_waiting_for_a_leased_lock_decides_again_as_the_lease_runs_out(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    decision = decide(cache, claim(clock, name='env-1', fair=False))
    assert decision.kind == WAIT and decision.recheck_after == pytest.approx(60.2)


def test_a_waiting_claim_takes_the_lock_over_once_its_lease_runs_out_though_the_branch_never_moves(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    started = clock()
    outcome = transaction.run(cache, claim(clock, name='env-1', fair=False, wait=True), clock=cache.clock, poll_interval=600)
    assert outcome.commit == server.head and clock() - started == pytest.approx(60.2, abs=0.1)


def test_a_takeover_deletes_the_renewals_of_the_claim_it_takes_over_and_a_renewal_no_other_claims(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    claimed_by(server, 'carol', 'env-2', token=1, lease_until=clock() + 60)
    execute(cache, claim(clock, 'bob', name='env-1', lease='1m', token=4))
    execute(cache, claim(clock, 'carol', name='env-2', lease='1m', token=1))
    clock.advance(120)
    execute(cache, claim(clock, name='env-1'))
    assert [ref.rsplit('/', 2)[1] for ref in lease_refs(server)] == ['env-2']

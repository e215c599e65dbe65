"""Dirty locks, on an in-memory git layer: released dirty, a lock stays taken (for Concourse too) until a reset's claim
releases it; no claim, lease, takeover or reap hands it out before."""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, NotHolderError, TaskStoppedError
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import Lifetime
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Reap, Release, Request, execute
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, pool_state

WAIT = transaction.WAIT


def request(holder='alice', **options):
    return Request(pool='aws', holder=holder, holder_given=True, **options)


def claim(clock, holder='alice', **params):
    return Claim(request(holder, wait=params.pop('wait', False), job=params.pop('job', None)), params, clock=clock)


def release(holder='alice', force=False, **params):
    return Release(request(holder, force=force), params)


def claim_env_1(cache, clock, **params):
    result = execute(cache, claim(clock, name='env-1', **params))
    assert result['acquired']
    return result['lock']['token']


def released_dirty(cache, clock, reason='deploy failed: timeout', **params):
    token = claim_env_1(cache, clock, **params)
    execute(cache, release(name='env-1', token=token, dirty=True, dirty_reason=reason))
    return token


def lock(cache, name='env-1'):
    head = cache.refresh()
    return inventory.describe_claim(Snapshot(cache, head), 'aws', name)


def pool_info(cache):
    return inventory.read_pools(Snapshot(cache, cache.refresh()), 'aws')['aws']


# -- releasing dirty -------------------------------------------------------------------

def test_a_dirty_release_leaves_the_lock_file_in_claimed_in_a_commit_that_changes_no_file(cache, server, clock):
    token = claim_env_1(cache, clock)
    files = server.files()
    result = execute(cache, release(name='env-1', token=token, dirty=True, dirty_reason='deploy failed'))
    assert result['changed'] and server.files() == files
    assert pool_state(server, 'aws')['claimed'] == ['env-1']
    message = server.message()
    assert message.startswith('releasing dirty: env-1\n')
    assert 'Lock-Dirty: aws/env-1 %d' % token in message.splitlines()
    assert 'Lock-Dirty-Reason: aws/env-1 deploy failed' in message.splitlines()


def test_a_dirty_lock_reads_as_dirty_with_who_left_it_so_which_job_and_why(cache, server, clock):
    released_dirty(cache, clock, reason='deploy failed:\n  timeout', job='awx 42')
    found = lock(cache)
    assert (found['state'], found['dirty_by'], found['dirty_job'], found['dirty_reason'], found['resetting']) == \
        ('dirty', 'alice', 'awx 42', 'deploy failed: timeout', False)
    assert (found['token'], found['expires_at'], found['dirty_at'] is not None) == (None, None, True)


def test_a_pool_counts_its_dirty_locks_among_the_claimed_as_concourse_sees_them(cache, server, clock):
    released_dirty(cache, clock)
    claimed_by(server, 'bob', 'env-2')
    found = pool_info(cache)
    assert (found['available'], found['claimed'], found['dirty']) == (1, 2, 1)
    assert [entry['state'] for entry in found['locks']] == ['dirty', 'claimed', 'unclaimed']


def test_a_dirty_release_asked_again_with_the_same_token_changes_nothing(cache, server, clock):
    token = released_dirty(cache, clock)
    head = server.head
    result = execute(cache, release(name='env-1', token=token, dirty=True, dirty_reason='again'))
    assert not result['changed'] and server.head == head


def test_a_clean_release_with_the_token_of_a_claim_released_dirty_is_refused_saying_so(cache, server, clock):
    token = released_dirty(cache, clock)
    with pytest.raises(NotHolderError, match='with token %d: that claim is over, it was released dirty' % token):
        execute(cache, release(name='env-1', token=token))
    assert lock(cache)['state'] == 'dirty'


def test_a_dirty_lock_is_released_without_a_reset_only_with_force(cache, server, clock):
    released_dirty(cache, clock)
    with pytest.raises(NotHolderError, match="is dirty since .* released so by alice \\(deploy failed: timeout\\).*or with force"):
        execute(cache, release(name='env-1'))
    execute(cache, release('admin', force=True, name='env-1'))
    assert lock(cache)['state'] == 'unclaimed'


def test_a_concourse_claim_can_be_released_dirty_without_a_token(cache, server, clock):
    server.concourse_claim('aws', 'env-2')
    execute(cache, Release(Request(pool='aws', holder='alice', holder_given=False), dict(name='env-2', dirty=True)))
    found = lock(cache, 'env-2')
    assert (found['state'], found['dirty_reason']) == ('dirty', None)


@pytest.mark.parametrize('operation, params', [
    (Claim, dict(name='env-1', dirty=True)),
    (Release, dict(name='env-1', reset=True)),
    (Release, dict(name='env-1', dirty_reason='no dirty: true')),
])
def test_the_dirty_and_reset_options_belong_to_their_state(operation, params):
    with pytest.raises(InvalidInputError, match='dirty|reset'):
        operation(request(), params)


# -- nothing hands a dirty lock out -----------------------------------------------------

def test_a_claim_of_any_lock_never_takes_a_dirty_one(cache, server, clock):
    released_dirty(cache, clock)
    taken = execute(cache, claim(clock, count=2))
    assert sorted(found['name'] for found in taken['locks']) == ['env-2', 'env-3']
    assert not execute(cache, claim(clock, holder='bob'))['acquired']


def test_a_named_claim_of_a_dirty_lock_waits_even_for_whoever_left_it_dirty(cache, server, clock):
    released_dirty(cache, clock)
    result = execute(cache, claim(clock, name='env-1'))
    assert not result['acquired']
    assert 'is dirty since' in result['waiting_for'] and 'handed out again once it is reset' in result['waiting_for']


def test_a_lease_never_makes_a_dirty_lock_free(cache, server, clock):
    released_dirty(cache, clock, lease='1m')
    clock.advance(3600)
    assert lock(cache)['expired'] is False
    assert not execute(cache, claim(clock, holder='bob', name='env-1'))['acquired']


def test_a_reap_leaves_dirty_locks_alone_even_very_old_ones(cache, server, clock):
    released_dirty(cache, clock, lease='1m')
    clock.advance(3600)
    result = execute(cache, Reap(request('reaper'), dict(older_than='1m'), clock=clock))
    assert result['released'] == [] and lock(cache)['state'] == 'dirty'


def test_renewing_a_claim_that_was_released_dirty_is_refused(cache, server, clock):
    token = released_dirty(cache, clock, lease='10m')
    with pytest.raises(NotHolderError, match='it was released dirty'):
        execute(cache, claim(clock, name='env-1', token=token, lease='10m'))


# -- resetting ------------------------------------------------------------------------------

def test_a_reset_claims_a_dirty_lock_that_stays_dirty_while_it_is_reset(cache, server, clock):
    token = released_dirty(cache, clock)
    files = server.files()
    result = execute(cache, claim(clock, holder='fixer', reset=True, lease='10m'))
    assert result['acquired'] and server.files() == files
    found = result['lock']
    assert (found['name'], found['state'], found['holder'], found['resetting'], found['dirty_by'], found['dirty_reason']) == \
        ('env-1', 'dirty', 'fixer', True, 'alice', 'deploy failed: timeout')
    assert found['token'] == token + 1 and found['expires_at'] is not None
    assert server.message().startswith('claiming to reset: env-1\n')


def test_releasing_the_reset_claim_marks_the_lock_clean_and_hands_it_out_again(cache, server, clock):
    released_dirty(cache, clock)
    reset = execute(cache, claim(clock, holder='fixer', reset=True))['lock']
    execute(cache, release('fixer', name='env-1', token=reset['token']))
    assert lock(cache)['state'] == 'unclaimed'
    assert execute(cache, claim(clock, holder='bob', name='env-1'))['lock']['token'] == reset['token'] + 1


def test_a_failed_reset_released_dirty_again_records_the_new_reason(cache, server, clock):
    released_dirty(cache, clock)
    reset = execute(cache, claim(clock, holder='fixer', reset=True))['lock']
    execute(cache, release('fixer', name='env-1', token=reset['token'], dirty=True, dirty_reason='reset failed'))
    found = lock(cache)
    assert (found['state'], found['dirty_by'], found['dirty_reason'], found['resetting']) == ('dirty', 'fixer', 'reset failed', False)


def test_a_reset_of_a_named_lock_that_is_not_dirty_leaves_it_alone(cache, server, clock):
    head = server.head
    result = execute(cache, claim(clock, holder='fixer', name='env-2', reset=True))
    assert not result['acquired'] and server.head == head and lock(cache, 'env-2')['state'] == 'unclaimed'


def test_a_reset_without_a_dirty_lock_acquires_nothing(cache, server, clock):
    result = execute(cache, claim(clock, holder='fixer', reset=True))
    assert not result['acquired'] and 'no dirty lock' in result['waiting_for']


def test_a_second_reset_waits_while_the_first_holds_the_lock_and_takes_it_over_once_its_lease_ran_out(cache, server, clock):
    released_dirty(cache, clock)
    first = execute(cache, claim(clock, holder='fixer', reset=True, lease='1m'))['lock']
    assert not execute(cache, claim(clock, holder='other', name='env-1', reset=True))['acquired']
    clock.advance(61)
    assert not execute(cache, claim(clock, holder='bob', name='env-1'))['acquired']  # a plain claim never takes it over
    second = execute(cache, claim(clock, holder='other', name='env-1', reset=True))
    assert second['acquired'] and second['lock']['token'] == first['token'] + 1
    assert (second['lock']['dirty_by'], second['lock']['dirty_reason']) == ('alice', 'deploy failed: timeout')


def test_the_reset_claim_is_renewed_like_any_claim(cache, server, clock):
    released_dirty(cache, clock)
    reset = execute(cache, claim(clock, holder='fixer', reset=True, lease='1m'))['lock']
    clock.advance(50)
    renewed = execute(cache, claim(clock, holder='fixer', name='env-1', token=reset['token'], lease='1m'))
    assert renewed['acquired'] is False and renewed['lock']['state'] == 'dirty'  # still being reset: not handed out
    clock.advance(50)
    assert lock(cache)['expired'] is False


def test_a_reset_that_lands_as_its_task_is_stopped_is_given_back_dirty_not_clean(cache, server, clock):
    released_dirty(cache, clock)
    lifetime = Lifetime(clock=clock)

    class StopAtPush(transaction.Observer):
        def reached(self, phase):
            if phase == 'after-push':
                lifetime.stopped = 'it was stopped by SIGTERM'

    with pytest.raises(TaskStoppedError, match=r'was given back$'):
        execute(cache, claim(clock, holder='fixer', reset=True), observer=StopAtPush(), lifetime=lifetime)
    found = lock(cache)
    assert (found['state'], found['resetting'], found['dirty_reason']) == ('dirty', False, 'deploy failed: timeout')


def test_tokens_keep_growing_after_claims_that_change_no_file(cache, server, clock):
    token = released_dirty(cache, clock)
    reset = execute(cache, claim(clock, holder='fixer', reset=True))['lock']
    execute(cache, release('fixer', name='env-1', token=reset['token']))
    assert [token, reset['token'], claim_env_1(cache, clock)] == [token, token + 1, token + 2]


# -- history ------------------------------------------------------------------------------

def events(cache, count=10, **where):
    return [(event['operation'], event['lock'], event['holder'])
            for event in inventory.read_events(Snapshot(cache, cache.refresh()), count, pool='aws', **where)]


def test_the_history_shows_the_dirty_release_and_the_reset_in_their_place_among_the_other_events(cache, server, clock):
    released_dirty(cache, clock)
    execute(cache, claim(clock, holder='bob', name='env-2'))
    reset = execute(cache, claim(clock, holder='fixer', reset=True))['lock']
    execute(cache, release('fixer', name='env-1', token=reset['token']))
    assert events(cache, count=5) == [('release', 'env-1', 'fixer'), ('reset', 'env-1', 'fixer'), ('claim', 'env-2', 'bob'),
                                      ('release_dirty', 'env-1', 'alice'), ('claim', 'env-1', 'alice')]
    assert events(cache, count=3) == events(cache, count=5)[:3]
    assert events(cache, name='env-1') == [event for event in events(cache) if event[1] == 'env-1']


def test_the_history_shows_a_takeover_of_an_expired_claim(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', token=4, lease_until=clock() + 60)
    clock.advance(61)
    execute(cache, claim(clock, name='env-1'))
    assert events(cache, count=2) == [('takeover', 'env-1', 'alice'), ('claim', 'env-1', 'bob')]

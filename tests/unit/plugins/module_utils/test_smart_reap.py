"""pool_reap's smart reaping on the in-memory git layer: a claim whose job's system says it is over is released
(``job-finished``), one that still runs or whose system cannot tell is kept (and reported), and the systems are
asked outside the cache lock, about each claim of the pool the decision is then made on. Claims record their job.

``decide`` is pure: it is handed what ``look_outside`` would say (job_systems.Answer); the systems' APIs are the
fake transport of test_job_systems.
"""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._job_systems import Answer
from ansible_collections.lockpool.git.plugins.module_utils._operations import Claim, Reap, Request, execute
from ansible_collections.lockpool.git.plugins.module_utils._snapshot import Snapshot
from ansible_collections.lockpool.git.tests.unit.fakes.lock_repos import claimed_by, lock_path, our_message, pool_state, released_by, utc
from ansible_collections.lockpool.git.tests.unit.fakes.fake_job_apis import AWX, AWX_TOKEN, CI, CI_TOKEN, FakeApis

CHANGE, NOTHING = transaction.CHANGE, transaction.NOTHING


def request(holder='reaper', pool='aws', **options):
    return Request(pool=pool, holder=holder, holder_given=True, **options)


def reap(clock, apis=None, older_than=None, team=None, **params):
    """pool_reap with AWX and Concourse given (unless ``params`` say otherwise), asking ``apis``."""
    if apis is not None:
        params.setdefault('awx_url', AWX)
        params.setdefault('awx_token', AWX_TOKEN)
        params.setdefault('concourse_url', CI)
        params.setdefault('concourse_token', CI_TOKEN)
    return Reap(request(team=team), dict(params, older_than=older_than), clock=clock, transport=apis)


def decide(cache, operation, outside):
    with cache.exclusive():
        head = cache.fetch()
    return operation.decide(Snapshot(cache, head), outside)


def claimed_for_job(server, holder, name, job, team=None, lease_until=None):
    """Another run's claim of ``name`` made for ``job`` (``awx 1234``): our message with its Lock-Job trailer."""
    trailers = [('Lock-Job', 'aws/%s %s' % (name, job))]
    if lease_until is not None:
        trailers.append(('Lock-Lease-Expires', 'aws/%s %s' % (name, utc(lease_until))))
    return server.move(lock_path('aws', 'unclaimed', name), lock_path('aws', 'claimed', name),
                       our_message('claiming: ' + name, holder, 'aws', team, trailers), author=holder)


def answer(claim, finished, status=None, why=None, job='awx 1234', system='awx'):
    return Answer(claim, job, system, finished, status, why)


@pytest.fixture
def apis():
    return FakeApis()


# -- deciding on what the systems said ------------------------------------------------------

def test_a_claim_whose_job_is_over_is_released_as_job_finished(cache, server, clock):
    claim = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    decision = decide(cache, reap(clock), {'env-1': answer(claim, True, 'failed')})
    assert decision.kind == CHANGE and [(edit.source.path, edit.target) for edit in decision.edits] == [('aws/claimed/env-1', 'aws/unclaimed/env-1')]
    assert decision.message == 'unclaiming: env-1\n\nLock-Holder: reaper\nLock-Pool: aws\nLock-Reaped: aws/env-1 job-finished\n'
    assert [(found['name'], found['reason'], found['job'], found['job_status']) for found in decision.found] == [
        ('env-1', 'job-finished', 'awx 1234', 'failed')]


def test_a_claim_whose_job_still_runs_is_kept(cache, server, clock):
    claim = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    decision = decide(cache, reap(clock), {'env-1': answer(claim, False, 'running')})
    assert decision.kind == NOTHING and decision.found == []


def test_a_claim_whose_system_cannot_tell_is_kept(cache, server, clock):
    claim = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    decision = decide(cache, reap(clock), {'env-1': answer(claim, None, why='AWX refused the token')})
    assert decision.kind == NOTHING


def test_older_than_still_releases_a_claim_whose_system_cannot_tell(cache, server, clock):
    claim = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    clock.advance(7200)
    decision = decide(cache, reap(clock, older_than='1h'), {'env-1': answer(claim, None, why='AWX refused the token')})
    assert [(found['reason'], found['job_status']) for found in decision.found] == [('older-than', None)]


def test_what_was_said_of_an_earlier_claim_of_the_lock_releases_nothing(cache, server, clock):
    """Between look_outside and decide the lock was released and claimed again, for another job."""
    earlier = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    released_by(server, 'bob', 'env-1')
    claimed_for_job(server, 'carol', 'env-1', 'awx 1235')
    decision = decide(cache, reap(clock), {'env-1': answer(earlier, True, 'successful')})
    assert decision.kind == NOTHING


def test_an_expired_lease_is_the_reason_even_when_the_job_is_over_too(cache, server, clock):
    claim = claimed_for_job(server, 'bob', 'env-1', 'awx 1234', lease_until=clock() + 60)
    clock.advance(61)
    decision = decide(cache, reap(clock), {'env-1': answer(claim, True, 'successful')})
    assert [(found['reason'], found['job'], found['job_status']) for found in decision.found] == [('lease-expired', 'awx 1234', 'successful')]


def test_without_job_systems_a_release_reports_exactly_what_it_did_before(cache, server, clock):
    claimed_by(server, 'bob', 'env-1', lease_until=clock() + 60)
    clock.advance(61)
    decision = decide(cache, reap(clock), None)
    assert sorted(decision.found[0]) == ['claimed_at', 'expires_at', 'holder', 'name', 'reason', 'team', 'token']


# -- asking the systems (look_outside) -------------------------------------------------------

def look(cache, operation):
    with cache.exclusive():
        cache.fetch()
    return operation.look_outside(cache)


def test_without_a_systems_url_nothing_is_asked(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    assert look(cache, reap(clock)) is None and apis.calls == []


def test_each_claim_is_asked_about_at_the_system_that_runs_its_job(cache, server, clock, apis):
    ours = claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    theirs = server.concourse_claim('aws', 'env-2', build='main/deploy/deploy-aws build 42')
    server.concourse_claim('aws', 'env-3')  # names no build: nothing to ask
    apis.job(1234, 'successful')
    apis.build('main/pipelines/deploy/jobs/deploy-aws/builds/42', 'started')
    answers = look(cache, reap(clock, apis))
    assert answers == {'env-1': Answer(ours, 'awx 1234', 'awx', True, 'successful', None),
                       'env-2': Answer(theirs, 'main/deploy/deploy-aws build 42', 'concourse', False, 'started', None)}


def test_only_the_system_given_is_asked(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    server.concourse_claim('aws', 'env-2', build='main/deploy/deploy-aws build 42')
    answers = look(cache, reap(clock, apis, concourse_url=None))
    assert sorted(answers) == ['env-1'] and [url for url in apis.asked() if url.startswith(CI)] == []


def test_a_reap_for_a_team_asks_only_about_that_teams_claims(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1', team='platform')
    claimed_for_job(server, 'carol', 'env-2', 'awx 2', team='data')
    answers = look(cache, reap(clock, apis, team='platform'))
    assert sorted(answers) == ['env-1'] and AWX + '/api/v2/jobs/2/' not in apis.asked()


def test_the_systems_are_asked_outside_the_cache_lock(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    held = []
    operation = reap(clock, lambda *args: held.append(cache.machine.held) or apis(*args))
    transaction.run(cache, operation, wait_for_lock=False, clock=clock)
    assert held and not any(held)


# -- a whole run -----------------------------------------------------------------------------

def test_a_run_releases_the_claim_of_a_finished_job_and_keeps_a_running_ones(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1')
    claimed_for_job(server, 'carol', 'env-2', 'awx 2')
    apis.job(1, 'canceled')
    apis.job(2, 'running')
    result = execute(cache, reap(clock, apis))
    assert [(found['name'], found['reason'], found['job'], found['job_status']) for found in result['released']] == [
        ('env-1', 'job-finished', 'awx 1', 'canceled')]
    assert pool_state(server, 'aws')['claimed'] == ['env-2'] and result['unknown'] == []
    assert server.message().endswith('Lock-Reaped: aws/env-1 job-finished\n')


def test_a_run_whose_system_cannot_tell_reports_and_warns_which_claims_it_kept_without_the_token(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (401, {'detail': 'Invalid token.'})
    operation = reap(clock, apis)
    result = execute(cache, operation)
    assert not result['changed'] and result['released'] == [] and pool_state(server, 'aws')['claimed'] == ['env-1']
    why = 'AWX refused the token: GET /api/v2/jobs/1234/ answered HTTP 401'
    assert result['unknown'] == [dict(name='env-1', job='awx 1234', system='awx', why=why)]
    assert operation.warnings() == ["cannot tell whether the job of lock 'env-1' in pool 'aws' (awx 1234) still runs, "
                                    "so it was not released for that: " + why]
    assert AWX_TOKEN not in repr(result) + repr(operation.warnings())


def test_a_claim_released_by_age_is_not_reported_as_unknown(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    apis.answers[AWX + '/api/v2/ping/'] = (503, b'')
    clock.advance(7200)
    result = execute(cache, reap(clock, apis, older_than='1h'))
    assert [found['reason'] for found in result['released']] == ['older-than'] and result['unknown'] == []


def test_a_run_in_check_mode_reports_the_finished_jobs_claims_and_pushes_nothing(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    apis.job(1234, 'successful')
    head = server.head
    result = execute(cache, Reap(request(check_mode=True), dict(awx_url=AWX, awx_token=AWX_TOKEN), clock=clock, transport=apis))
    assert result['changed'] and [found['reason'] for found in result['released']] == ['job-finished'] and server.head == head


def test_a_lost_push_race_asks_no_job_twice(cache, server, clock, apis):
    claimed_for_job(server, 'bob', 'env-1', 'awx 1234')
    apis.job(1234, 'successful')
    server.lose_next_push()
    result = execute(cache, reap(clock, apis))
    assert result['attempts'] == 1 and [found['name'] for found in result['released']] == ['env-1']
    assert apis.asked().count(AWX + '/api/v2/jobs/1234/') == 1


# -- claims record their job -----------------------------------------------------------------

def test_a_claim_for_a_job_records_it_for_each_lock(cache, server, clock):
    transaction.run(cache, Claim(request('alice', job='awx 77'), dict(name=['env-1', 'env-2']), clock=clock), wait_for_lock=False, clock=clock)
    lines = server.message().splitlines()
    assert 'Lock-Job: aws/env-1 awx 77' in lines and 'Lock-Job: aws/env-2 awx 77' in lines


def test_a_claim_without_a_job_records_none(cache, server, clock):
    transaction.run(cache, Claim(request('alice'), dict(name='env-1'), clock=clock), wait_for_lock=False, clock=clock)
    assert 'Lock-Job' not in server.message()


def test_a_job_with_a_control_character_is_refused():
    with pytest.raises(InvalidInputError, match='^job must be'):
        request(job='awx 1\nLock-Holder: mallory')

"""Smart reaping's reading and asking: which job a claim names (every form Concourse writes, our Lock-Job trailer),
and what AWX's and Concourse's APIs answer, turned into finished / running / cannot tell, without a secret.

The APIs are a fake transport here (no HTTP); tests/integration/test_smart_reaping.py asks real HTTP stand-ins.
"""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, JobSystemError
from ansible_collections.lockpool.git.plugins.module_utils._job_systems import JobRef, JobSystems, job_ref, job_trailer
from ansible_collections.lockpool.git.plugins.module_utils._message import ConcourseBuild, parse_message
from ansible_collections.lockpool.git.tests.unit.fakes.fake_job_apis import AWX, AWX_TOKEN, BUILD_URL, CI, CI_TOKEN, FakeApis


@pytest.fixture
def apis():
    return FakeApis()


def systems(apis, **params):
    params.setdefault('awx_url', AWX)
    params.setdefault('awx_token', AWX_TOKEN)
    params.setdefault('concourse_url', CI)
    params.setdefault('concourse_token', CI_TOKEN)
    return JobSystems.from_params(params, transport=apis)


def awx(job_id):
    return JobRef('awx', str(job_id), 'awx %s' % job_id)


def concourse(message):
    return job_ref(message, 'concourse', 'aws/env-1')


def our_claim(*trailers):
    return 'claiming: env-1\n\nLock-Holder: alice\nLock-Pool: aws\n' + ''.join('Lock-Job: %s\n' % trailer for trailer in trailers)


# -- which job a claim names -------------------------------------------------------------

def test_our_claim_names_its_awx_job_in_a_lock_job_trailer():
    assert job_ref(our_claim('aws/env-1 awx 1234'), 'alice', 'aws/env-1') == JobRef('awx', '1234', 'awx 1234')


def test_the_job_trailer_is_written_as_the_lock_job_trailer_we_read():
    key, value = job_trailer('aws/env-1', 'awx 1234')
    assert (key, value) == ('Lock-Job', 'aws/env-1 awx 1234')


def test_the_job_of_a_lock_whose_name_another_locks_name_begins_with_is_its_own():
    message = our_claim('aws/a b awx 2', 'aws/a awx 1')
    assert job_ref(message, 'alice', 'aws/a').label == 'awx 1'
    assert job_ref(message, 'alice', 'aws/a b').label == 'awx 2'


def test_a_job_of_a_system_we_do_not_know_names_no_job():
    assert job_ref(our_claim('aws/env-1 jenkins 7'), 'alice', 'aws/env-1') is None


def test_a_claim_without_a_job_names_no_job():
    assert job_ref(our_claim(), 'alice', 'aws/env-1') is None


def test_team_pipeline_job_build_prefix_names_the_build():
    assert parse_message('main/deploy/deploy-aws build 42 claiming: env-1\n').build == ConcourseBuild(
        'main', 'deploy', None, 'deploy-aws', '42', '', None)
    assert concourse('main/deploy/deploy-aws build 42 claiming: env-1\n').label == 'main/deploy/deploy-aws build 42'


def test_pipeline_job_build_before_v1_0_1_names_the_build_without_a_team():
    build = parse_message('deploy/deploy-aws build 7 claiming: env-1\n').build
    assert (build.team, build.pipeline, build.job, build.name) == (None, 'deploy', 'deploy-aws', '7')


def test_pipeline_job_hash_number_of_2015_names_the_build():
    build = parse_message('deploy/deploy-aws #7 claiming: env-1\n').build
    assert (build.team, build.pipeline, build.job, build.name) == (None, 'deploy', 'deploy-aws', '7')


def test_instance_vars_prefix_names_the_build_and_its_instance_vars_as_text():
    build = parse_message('main/deploy/region:eu,size:2/deploy-aws build 9 claiming: env-1\n').build
    assert (build.team, build.pipeline, build.instance_vars, build.job, build.name) == ('main', 'deploy', 'region:eu,size:2', 'deploy-aws', '9')


def test_a_one_off_build_names_no_job():
    assert parse_message('one-off build 1234 claiming: env-1\n').build is None
    assert concourse('one-off build 1234 claiming: env-1\n') is None


def test_a_plain_concourse_claim_names_no_job():
    assert concourse('claiming: env-1\n') is None


def test_the_v1_8_build_url_line_names_the_build():
    build = parse_message('claiming: env-1\nBuild URL: %s \n' % BUILD_URL).build
    assert build == ConcourseBuild('main', 'deploy', None, 'deploy-aws', '42', '', BUILD_URL)


def test_the_v1_8_subject_as_git_log_shows_it_names_the_build():
    assert concourse('claiming: env-1 Build URL: %s' % BUILD_URL).label == 'main/deploy/deploy-aws build 42'


def test_a_build_url_is_read_decoded_with_its_instance_vars_query():
    url = CI + '/teams/main/pipelines/demo/jobs/my%20test/builds/3.1?vars=%7B%22branch%22%3A%22stable%22%7D'
    build = parse_message('claiming: env-1\nBuild URL: %s\n' % url).build
    assert (build.job, build.name, build.query) == ('my test', '3.1', 'vars=%7B%22branch%22%3A%22stable%22%7D')


def test_a_bare_build_url_line_names_no_job():
    assert parse_message('claiming: env-1\nBuild URL:\n').build is None


def test_the_holder_read_from_a_concourse_subject_is_as_before():
    event = parse_message('main/deploy/deploy-aws build 42 claiming: env-1\n')
    assert (event.holder, event.team, event.build_url) == ('main/deploy/deploy-aws build 42', 'main', None)


# -- asking AWX --------------------------------------------------------------------------

@pytest.mark.parametrize('status', ['successful', 'failed', 'error', 'canceled'])
def test_an_awx_job_that_is_over_is_finished(apis, status):
    apis.job(1234, status)
    answer = systems(apis).ask(awx(1234), 'c1')
    assert (answer.finished, answer.status, answer.why, answer.job, answer.system, answer.claim) == (True, status, None, 'awx 1234', 'awx', 'c1')


@pytest.mark.parametrize('status', ['new', 'pending', 'waiting', 'running'])
def test_an_awx_job_that_still_runs_is_not_finished(apis, status):
    apis.job(1234, status)
    assert (systems(apis).ask(awx(1234), 'c1').finished, systems(apis).ask(awx(1234), 'c1').status) == (False, status)


def test_an_awx_job_that_is_gone_is_finished(apis):
    answer = systems(apis).ask(awx(99), 'c1')
    assert (answer.finished, answer.status) == (True, 'gone')
    assert AWX + '/api/v2/jobs/99/' in apis.asked()


def test_awx_is_asked_for_the_job_with_the_bearer_token(apis):
    apis.job(1234, 'running')
    systems(apis).ask(awx(1234), 'c1')
    url, headers = apis.calls[-1]
    assert url == AWX + '/api/v2/jobs/1234/' and headers['Authorization'] == 'Bearer ' + AWX_TOKEN


def test_a_refused_awx_token_cannot_tell_and_says_so_without_the_token(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (401, {'detail': 'Invalid token.'})
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and answer.status is None
    assert answer.why == 'AWX refused the token: GET /api/v2/jobs/1234/ answered HTTP 401'


def test_without_a_token_awx_asking_for_one_cannot_tell(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (401, {'detail': 'Authentication credentials were not provided.'})
    answer = systems(apis, awx_token=None).ask(awx(1234), 'c1')
    assert answer.finished is None and 'asks for a token' in answer.why
    assert 'Authorization' not in apis.calls[-1][1]


def test_a_forbidden_awx_job_cannot_tell(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (403, {'detail': 'You do not have permission to perform this action.'})
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and 'HTTP 403' in answer.why


def test_an_answer_that_is_not_json_cannot_tell(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (200, b'<html>login</html>')
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and 'not JSON' in answer.why


def test_a_status_that_is_neither_running_nor_finished_cannot_tell(apis):
    apis.job(1234, 'never updated')
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and "'never updated'" in answer.why


def test_an_awx_job_id_that_is_not_a_number_cannot_tell_and_is_not_asked(apis):
    answer = systems(apis).ask(JobRef('awx', '12/../34', 'awx 12/../34'), 'c1')
    assert answer.finished is None and 'not an AWX job id' in answer.why
    assert [url for url in apis.asked() if '/jobs/' in url] == []


def test_a_redirect_is_not_followed_and_cannot_tell(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (302, b'')
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and 'redirected' in answer.why


def test_an_unreachable_awx_cannot_tell_and_says_where(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = JobSystemError('no answer: [Errno 111] Connection refused')
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None
    assert answer.why == 'AWX at https://awx.example.com gave no answer: [Errno 111] Connection refused'


def test_a_url_that_is_not_the_awx_api_takes_no_job_for_gone(apis):
    """A wrong awx_url answers 404 for every job: the ping, asked then, keeps that from releasing every claim."""
    apis.answers[AWX + '/api/v2/jobs/1234/'] = (404, b'not found')
    apis.answers[AWX + '/api/v2/ping/'] = (404, b'not found')
    answer = systems(apis).ask(awx(1234), 'c1')
    assert answer.finished is None and answer.why.startswith('the job is not found, and ')
    assert 'GET /api/v2/ping/ answered HTTP 404' in answer.why


def test_a_job_the_api_reports_is_decided_without_a_ping(apis):
    """A server that answers the job but not the ping (a proxy, a stand-in) still says whether the job is over."""
    apis.job(1, 'canceled')
    apis.answers[AWX + '/api/v2/ping/'] = (404, b'not found')
    assert systems(apis).ask(awx(1), 'c1').finished is True


def test_the_api_is_pinged_once_only_for_jobs_not_found_and_each_job_asked_once(apis):
    apis.job(1, 'running')
    apis.job(2, 'successful')
    asking = systems(apis)
    for claim in ('c1', 'c2', 'c3'):
        asking.ask(awx(1), claim)
        asking.ask(awx(2), claim)
        asking.ask(awx(3), claim)
        asking.ask(awx(4), claim)
    assert sorted(apis.asked()) == [AWX + '/api/v2/jobs/%d/' % job for job in (1, 2, 3, 4)] + [AWX + '/api/v2/ping/']


def test_no_message_holds_the_token_even_when_a_layer_below_puts_it_in_one(apis):
    apis.answers[AWX + '/api/v2/jobs/1234/'] = JobSystemError('no answer: header Bearer %s rejected' % AWX_TOKEN)
    answer = systems(apis).ask(awx(1234), 'c1')
    assert AWX_TOKEN not in answer.why and '***' in answer.why


def test_a_system_without_its_url_is_not_asked(apis):
    assert systems(apis, awx_url=None).ask(awx(1234), 'c1') is None
    assert apis.calls == []


def test_without_any_url_there_is_no_system_to_ask(apis):
    assert not JobSystems.from_params({'awx_token': AWX_TOKEN}, transport=apis)


@pytest.mark.parametrize('url', ['awx.example.com', 'ftp://awx.example.com', 'https://', 'https://awx.example.com/?x=1'])
def test_a_url_that_is_not_an_http_server_is_refused(url):
    with pytest.raises(InvalidInputError, match='^awx_url must be'):
        JobSystems.from_params({'awx_url': url})


def test_a_url_with_credentials_is_refused_without_showing_them():
    with pytest.raises(InvalidInputError) as raised:
        JobSystems.from_params({'concourse_url': 'https://admin:hunter2@ci.example.com'})
    assert 'hunter2' not in str(raised.value) and 'concourse_url must not hold credentials' in str(raised.value)


# -- asking Concourse --------------------------------------------------------------------

@pytest.mark.parametrize('status', ['succeeded', 'failed', 'errored', 'aborted'])
def test_a_concourse_build_that_is_over_is_finished(apis, status):
    apis.build('main/pipelines/deploy/jobs/deploy-aws/builds/42', status)
    answer = systems(apis).ask(concourse('main/deploy/deploy-aws build 42 claiming: env-1\n'), 'c1')
    assert (answer.finished, answer.status, answer.job, answer.system) == (True, status, 'main/deploy/deploy-aws build 42', 'concourse')


@pytest.mark.parametrize('status', ['pending', 'started'])
def test_a_concourse_build_that_still_runs_is_not_finished(apis, status):
    apis.build('main/pipelines/deploy/jobs/deploy-aws/builds/42', status)
    answer = systems(apis).ask(concourse('main/deploy/deploy-aws build 42 claiming: env-1\n'), 'c1')
    assert (answer.finished, answer.status) == (False, status)


def test_a_concourse_build_that_is_gone_is_finished(apis):
    answer = systems(apis).ask(concourse('main/deploy/deploy-aws build 42 claiming: env-1\n'), 'c1')
    assert (answer.finished, answer.status) == (True, 'gone')


def test_concourse_is_asked_for_the_job_build_with_the_bearer_token(apis):
    apis.build('main/pipelines/deploy/jobs/deploy-aws/builds/42', 'started')
    systems(apis).ask(concourse('claiming: env-1\nBuild URL: %s\n' % BUILD_URL), 'c1')
    url, headers = apis.calls[-1]
    assert url == CI + '/api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42'
    assert headers['Authorization'] == 'Bearer ' + CI_TOKEN


def test_the_build_of_an_instanced_pipeline_is_asked_with_its_instance_vars(apis):
    url = CI + '/teams/main/pipelines/demo/jobs/my%20test/builds/3.1?vars=%7B%22branch%22%3A%22stable%22%7D&other=1'
    systems(apis).ask(concourse('claiming: env-1\nBuild URL: %s\n' % url), 'c1')
    assert apis.asked()[0] == CI + '/api/v1/teams/main/pipelines/demo/jobs/my%20test/builds/3.1?vars=%7B%22branch%22%3A%22stable%22%7D'


def test_a_build_url_on_another_server_cannot_tell_and_the_token_goes_nowhere(apis):
    answer = systems(apis).ask(concourse('claiming: env-1\nBuild URL: https://ci.other.example/teams/main/pipelines/p/jobs/j/builds/1\n'), 'c1')
    assert answer.finished is None and 'another server than concourse_url' in answer.why
    assert [url for url in apis.asked() if 'other' in url or '/builds/' in url] == []


def test_a_claim_that_names_no_team_cannot_tell(apis):
    answer = systems(apis).ask(concourse('deploy/deploy-aws build 7 claiming: env-1\n'), 'c1')
    assert answer.finished is None and 'names no team' in answer.why
    assert [url for url in apis.asked() if '/builds/' in url] == []


def test_a_subject_with_instance_vars_cannot_tell(apis):
    answer = systems(apis).ask(concourse('main/deploy/region:eu/deploy-aws build 9 claiming: env-1\n'), 'c1')
    assert answer.finished is None and 'instance vars' in answer.why


def test_a_refused_concourse_token_cannot_tell_and_says_so_without_the_token(apis):
    apis.answers[CI + '/api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42'] = (401, b'not authorized')
    answer = systems(apis).ask(concourse('main/deploy/deploy-aws build 42 claiming: env-1\n'), 'c1')
    assert answer.why == 'Concourse refused the token: GET /api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42 answered HTTP 401'
    assert CI_TOKEN not in answer.why


def test_a_url_that_is_not_the_concourse_api_takes_no_build_for_gone(apis):
    apis.answers[CI + '/api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42'] = (404, b'not found')
    apis.answers[CI + '/api/v1/info'] = (200, b'<html>a web site</html>')
    answer = systems(apis).ask(concourse('main/deploy/deploy-aws build 42 claiming: env-1\n'), 'c1')
    assert answer.finished is None and answer.why.startswith('the job is not found, and Concourse answered GET /api/v1/info')


def test_a_concourse_job_recorded_by_our_claim_is_asked_about_too(apis):
    ref = job_ref(our_claim('aws/env-1 concourse main/deploy/deploy-aws build 42'), 'alice', 'aws/env-1')
    assert (ref.system, ref.label) == ('concourse', 'main/deploy/deploy-aws build 42')

"""Smart reaping against real lock repositories: pool_reap, run as Ansible runs it, asks AWX and Concourse
(HTTP stand-ins on loopback, tests/support/job_servers.py) whether the job of each claim still runs, and releases
the claims of the jobs that are over. Claims are made as their writers make them: by pool_lock with ``job``, by
the role under AWX, and by Concourse's ``out`` (its exact subjects, see shared concourse-facts)."""

import json

import pytest
import yaml

from support.job_servers import AwxServer, ConcourseServer
from support.modules import run_module, run_playbook, warning_texts
from support.repos import commit_to, git, last_message, pool_state
from support.servers import free_port

CONCOURSE_AUTHOR = 'CI Pool Resource <ci-pool@localhost>'


@pytest.fixture
def awx():
    with AwxServer() as server:
        yield server


@pytest.fixture
def concourse():
    with ConcourseServer() as server:
        yield server


def claim_for_awx_job(lock_args, name, job_id):
    result = run_module('pool_lock', dict(lock_args, name=name, holder='awx job %s' % job_id, job='awx %s' % job_id))
    assert result['acquired'], result


def concourse_claims(repo, name, message):
    """Concourse's ``out`` claiming ``name``: the lock file moved, the commit message as the pool-resource writes it."""
    commit_to(repo, message, [('mv', 'aws/unclaimed/%s' % name, 'aws/claimed/%s' % name)], author=CONCOURSE_AUTHOR)


def reap_asking_awx(lock_args, awx, token=None, env=None, **args):
    return run_module('pool_reap', dict(lock_args, awx_url=awx.url, awx_token=token or awx.token, **args), env=env)


def reap_asking_concourse(lock_args, concourse, token=None, **args):
    return run_module('pool_reap', dict(lock_args, concourse_url=concourse.url, concourse_token=token or concourse.token, **args))


def released(result):
    assert not result.get('failed'), result
    return [(lock['name'], lock['reason'], lock.get('job'), lock.get('job_status')) for lock in result['released']]


def output(result):
    """Everything the module printed: its JSON result and its stderr."""
    return json.dumps(result)


# -- AWX ---------------------------------------------------------------------------------

def test_the_claim_of_an_awx_job_that_is_over_is_released(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'successful')
    result = reap_asking_awx(lock_args, awx)
    assert released(result) == [('env-1', 'job-finished', 'awx 4711', 'successful')]
    assert pool_state(aws_repo, 'aws')['claimed'] == []
    assert 'Lock-Reaped: aws/env-1 job-finished' in last_message(aws_repo).splitlines()


def test_the_claim_of_an_awx_job_that_still_runs_is_kept(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'running')
    result = reap_asking_awx(lock_args, awx)
    assert released(result) == [] and result['unknown'] == []
    assert awx.asked('/api/v2/jobs/4711/') == 1
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_the_claim_of_an_awx_job_that_is_gone_is_released(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    result = reap_asking_awx(lock_args, awx)
    assert released(result) == [('env-1', 'job-finished', 'awx 4711', 'gone')]


def test_only_the_claim_whose_job_is_over_is_released(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 1)
    claim_for_awx_job(lock_args, 'env-2', 2)
    awx.set_job(1, 'canceled')
    awx.set_job(2, 'pending')
    result = reap_asking_awx(lock_args, awx)
    assert [name for name, *_rest in released(result)] == ['env-1']
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-2'], 'unclaimed': ['env-1']}


def test_a_wrong_awx_token_releases_nothing_and_says_why_without_the_token(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'failed')
    wrong = 'wrong-awx-token-8c1d'
    result = reap_asking_awx(lock_args, awx, token=wrong)
    assert released(result) == [] and pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    why = 'AWX refused the token: GET /api/v2/jobs/4711/ answered HTTP 401'
    assert result['unknown'] == [dict(name='env-1', job='awx 4711', system='awx', why=why)]
    assert any(why in warning for warning in warning_texts(result))
    assert wrong not in output(result) and awx.token not in output(result)


def test_the_awx_token_is_read_from_lockpool_awx_token(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'error')
    result = run_module('pool_reap', dict(lock_args, awx_url=awx.url), env={'LOCKPOOL_AWX_TOKEN': awx.token})
    assert released(result) == [('env-1', 'job-finished', 'awx 4711', 'error')]
    assert awx.token not in output(result)


def test_an_unreachable_awx_releases_nothing_for_the_job_but_older_than_still_applies(aws_repo, lock_args):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    nowhere = 'http://127.0.0.1:%d' % free_port()
    kept = run_module('pool_reap', dict(lock_args, awx_url=nowhere, awx_token='t0ken-x'))
    assert released(kept) == [] and kept['unknown'][0]['why'].startswith('AWX at %s gave no answer' % nowhere)
    by_age = run_module('pool_reap', dict(lock_args, awx_url=nowhere, awx_token='t0ken-x', older_than=0))
    assert [(name, reason) for name, reason, _job, _status in released(by_age)] == [('env-1', 'older-than')]


def test_a_url_that_is_not_awxs_api_releases_nothing(aws_repo, lock_args, concourse):
    """Concourse's stand-in answers 404 for every AWX path: no job is taken for gone."""
    claim_for_awx_job(lock_args, 'env-1', 4711)
    result = run_module('pool_reap', dict(lock_args, awx_url=concourse.url, awx_token='t0ken-x'))
    assert released(result) == [] and 'GET /api/v2/ping/ answered HTTP 404' in result['unknown'][0]['why']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_without_a_job_systems_url_nothing_is_asked_and_the_claim_is_kept(aws_repo, lock_args, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'successful')
    result = run_module('pool_reap', dict(lock_args, awx_token=awx.token))
    assert released(result) == [] and awx.requests == []


# -- Concourse ---------------------------------------------------------------------------

def test_a_concourse_claim_of_an_aborted_build_is_released(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'main/deploy/deploy-aws build 42 claiming: env-1')
    concourse.set_build('main', 'deploy', 'deploy-aws', 42, 'aborted')
    result = reap_asking_concourse(lock_args, concourse)
    assert released(result) == [('env-1', 'job-finished', 'main/deploy/deploy-aws build 42', 'aborted')]
    assert pool_state(aws_repo, 'aws')['claimed'] == []


def test_a_concourse_claim_of_a_running_build_is_kept(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'main/deploy/deploy-aws build 42 claiming: env-1')
    concourse.set_build('main', 'deploy', 'deploy-aws', 42, 'started')
    result = reap_asking_concourse(lock_args, concourse)
    assert released(result) == [] and result['unknown'] == []
    assert concourse.asked('/api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42') == 1
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_a_v1_8_concourse_claim_names_its_build_by_url_and_is_released_when_it_failed(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'claiming: env-1\nBuild URL: %s ' % concourse.build_url('main', 'deploy', 'deploy-aws', 43))
    concourse.set_build('main', 'deploy', 'deploy-aws', 43, 'failed')
    result = reap_asking_concourse(lock_args, concourse)
    assert released(result) == [('env-1', 'job-finished', 'main/deploy/deploy-aws build 43', 'failed')]


def test_a_v1_8_concourse_claim_of_a_pending_build_is_kept(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'claiming: env-1\nBuild URL: %s ' % concourse.build_url('main', 'deploy', 'deploy-aws', 43))
    concourse.set_build('main', 'deploy', 'deploy-aws', 43, 'pending')
    result = reap_asking_concourse(lock_args, concourse)
    assert released(result) == [] and concourse.asked('/api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/43') == 1


def test_a_wrong_concourse_token_releases_nothing_and_says_why_without_the_token(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'main/deploy/deploy-aws build 42 claiming: env-1')
    concourse.set_build('main', 'deploy', 'deploy-aws', 42, 'aborted')
    wrong = 'wrong-concourse-token-77a2'
    result = reap_asking_concourse(lock_args, concourse, token=wrong)
    assert released(result) == [] and pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    assert result['unknown'][0]['why'] == ('Concourse refused the token: '
                                           'GET /api/v1/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42 answered HTTP 401')
    assert wrong not in output(result) and concourse.token not in output(result)


def test_a_build_url_on_another_server_is_not_asked_and_its_claim_kept(aws_repo, lock_args, concourse):
    concourse_claims(aws_repo, 'env-1', 'claiming: env-1\nBuild URL: https://ci.elsewhere.example/teams/main/pipelines/deploy/jobs/deploy-aws/builds/1 ')
    result = reap_asking_concourse(lock_args, concourse)
    assert released(result) == [] and 'another server' in result['unknown'][0]['why']
    assert [path for path, _authorized in concourse.requests if '/builds/' in path] == []


# -- the role and the playbook -------------------------------------------------------------

def claim_messages(repo):
    """The messages of the branch's claim commits, newest first."""
    messages = git('log', '--format=%B%x00', 'refs/heads/main', cwd=repo).split('\0')
    return [message.strip('\n') for message in messages if message.strip('\n').startswith('claiming: ')]


def run_role(repo, tmp_path, locks=('env-1',), **extra_vars):
    """A play that holds each of ``locks`` in turn with the role, with ``extra_vars`` (AWX's, for one)."""
    tasks = tmp_path / 'deploy.yml'
    tasks.write_text(yaml.safe_dump([{'name': 'Work', 'ansible.builtin.debug': {'msg': '{{ with_lock_held.name }}'}}]))
    play = tmp_path / 'play.yml'
    includes = [{'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'},
                 'vars': {'with_lock_repo': repo, 'with_lock_cache_dir': str(tmp_path / 'cache'), 'with_lock_pool': 'aws',
                          'with_lock_name': name, 'with_lock_tasks': str(tasks)}} for name in locks]
    play.write_text(yaml.safe_dump([{'name': 'Deploy', 'hosts': 'localhost', 'gather_facts': False, 'tasks': includes}]))
    completed = run_playbook(play, extra_vars=extra_vars)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_under_awx_the_role_records_the_job_in_the_claim(aws_repo, tmp_path):
    run_role(aws_repo, tmp_path, awx_job_id=4242, awx_job_template_name='Deploy app', awx_user_name='alice')
    assert 'Lock-Job: aws/env-1 awx 4242' in claim_messages(aws_repo)[0].splitlines()


def test_under_tower_the_role_records_the_job_from_tower_job_id(aws_repo, tmp_path):
    run_role(aws_repo, tmp_path, tower_job_id=77)
    assert 'Lock-Job: aws/env-1 awx 77' in claim_messages(aws_repo)[0].splitlines()


def test_every_lock_a_play_holds_in_turn_records_the_job(aws_repo, tmp_path):
    run_role(aws_repo, tmp_path, locks=('env-1', 'env-2'), awx_job_id=4242)
    newest, oldest = claim_messages(aws_repo)
    assert 'Lock-Job: aws/env-1 awx 4242' in oldest.splitlines() and 'Lock-Job: aws/env-2 awx 4242' in newest.splitlines()


def test_outside_awx_the_role_records_no_job(aws_repo, tmp_path):
    run_role(aws_repo, tmp_path)
    assert 'Lock-Job' not in claim_messages(aws_repo)[0]


def test_the_reap_playbook_asks_awx_when_given_its_url(aws_repo, lock_args, cache_dir, awx):
    claim_for_awx_job(lock_args, 'env-1', 4711)
    awx.set_job(4711, 'failed')
    completed = run_playbook('lockpool.git.reap', {'with_lock_repo': aws_repo, 'with_lock_pool': 'aws', 'with_lock_cache_dir': cache_dir,
                                                   'awx_url': awx.url, 'awx_token': awx.token})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert 'released: env-1' in completed.stdout
    assert awx.token not in completed.stdout + completed.stderr

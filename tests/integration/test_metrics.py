"""pool_lock's Prometheus metrics, read back from a real Pushgateway (Debian's prometheus-pushgateway)."""

import json
import os
import re
import time
from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from support.modules import ROOT, run_module, run_playbook, start_module, warning_texts
from support.pushgateway import Pushgateway
from support.repos import lose_next_push_race, make_lock_repo, pool_state
from support.servers import StallingProxy, free_port

HEARTBEAT_SECONDS = 5.0  # plugins/module_utils/_metrics.py HEARTBEAT_SECONDS
DASHBOARD = os.path.join(ROOT, 'docs', 'grafana', 'lockpool.json')
GATEWAY_BOOKKEEPING = {'push_time_seconds', 'push_failure_time_seconds'}
HEARTBEAT = 'lockpool_waiter_heartbeat_timestamp_seconds'
AWS_MAIN = dict(pool='aws', branch='main')
GATEWAY_USER = 'metrics-bot'
# Its '@' is written %40 in a URL: both forms must stay hidden.
GATEWAY_PASSWORD = 'SENTINEL-GATEWAY-PASSWORD-5e1b@x'


@pytest.fixture
def job(request):
    """A job of the test's own, so tests sharing the gateway never see each other's metrics."""
    return re.sub(r'\W', '_', request.node.name)


@pytest.fixture
def metrics_args(lock_args, pushgateway, job):
    return dict(lock_args, prometheus_push_gateway=pushgateway.url, prometheus_job=job)


def pool_lock(args, **more):
    return run_module('pool_lock', dict(args, **more))


def outcomes(pushgateway, job):
    """The (operation, outcome) groups the gateway holds for ``job``."""
    return sorted((labels['operation'], labels['outcome'])
                  for labels in pushgateway.groups(job, 'lockpool_operation_last_timestamp_seconds'))


def waiters(pushgateway, job):
    return pushgateway.groups(job, HEARTBEAT)


def eventually(condition, timeout=30.0):
    """Poll ``condition`` until it returns something true; returns it, or fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('condition still false after %ss' % timeout)


# -- a whole playbook ------------------------------------------------------------------

PLAYBOOK_OPERATIONS = ['add_unclaimed_lock', 'add_claimed_lock', 'claim_lock', 'update_lock',
                       'release_lock', 'remove_lock', 'acquire_lock']
PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  module_defaults:
    lockpool.git.pool_lock:
      repo: "{{ repo }}"
      cache_dir: "{{ cache_dir }}"
      pool: aws
      holder: ops
      prometheus_push_gateway: "{{ gateway }}"
      prometheus_job: "{{ job }}"
  tasks:
    - lockpool.git.pool_lock: {name: env-3, state: present, metadata: {region: eu-central-1}}
    - lockpool.git.pool_lock: {name: env-4, state: present, claimed: true}
    - lockpool.git.pool_lock: {name: env-1}
    - lockpool.git.pool_lock: {name: env-3, state: present, metadata: {region: eu-north-1}}
    - lockpool.git.pool_lock: {name: env-1, state: released}
    - lockpool.git.pool_lock: {name: env-4, state: absent}
    - lockpool.git.pool_lock: {}
'''


@pytest.fixture
def playbook_run(tmp_path, aws_repo, cache_dir, pushgateway, job):
    """Runs every kind of operation once; returns the wall-clock interval the run took."""
    playbook = tmp_path / 'every-operation.yml'
    playbook.write_text(PLAYBOOK)
    started = time.time()
    completed = run_playbook(playbook, dict(repo=aws_repo, cache_dir=cache_dir, gateway=pushgateway.url, job=job))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return started, time.time()


def test_playbook_pushes_the_pix4d_lock_counts_of_the_state_it_left(playbook_run, aws_repo, pushgateway, job):
    state = pool_state(aws_repo, 'aws')
    assert (len(state['unclaimed']), len(state['claimed'])) == (2, 1)
    assert pushgateway.value(job, 'resource_pool_num_available_locks', **AWS_MAIN) == 2
    assert pushgateway.value(job, 'resource_pool_num_claimed_locks', **AWS_MAIN) == 1


def test_playbook_pushes_the_pix4d_execution_time_of_each_operation(playbook_run, pushgateway, job):
    started, ended = playbook_run
    for operation in PLAYBOOK_OPERATIONS:
        group = dict(AWS_MAIN, operation=operation)
        took = pushgateway.value(job, 'resource_pool_execution_time_sum', **group)
        assert 0 < took < ended - started, operation
        assert pushgateway.value(job, 'resource_pool_execution_time_count', **group) == 1, operation
        assert pushgateway.value(job, 'resource_pool_execution_time_bucket', le='+Inf', **group) == 1, operation
        assert took == pushgateway.value(job, 'lockpool_operation_duration_seconds', outcome='changed', **group)


def test_playbook_pushes_each_operation_outcome_wait_and_races(playbook_run, pushgateway, job):
    started, ended = playbook_run
    assert outcomes(pushgateway, job) == sorted((operation, 'changed') for operation in PLAYBOOK_OPERATIONS)
    for operation in PLAYBOOK_OPERATIONS:
        group = dict(AWS_MAIN, operation=operation, outcome='changed')
        assert pushgateway.value(job, 'lockpool_operation_wait_seconds', **group) == 0, operation
        assert pushgateway.value(job, 'lockpool_operation_push_races_lost', **group) == 0, operation
        assert started <= pushgateway.value(job, 'lockpool_operation_last_timestamp_seconds', **group) <= ended


def test_playbook_leaves_exactly_the_documented_groups(playbook_run, pushgateway, job):
    groups = pushgateway.groups(job, 'push_time_seconds')
    expected = [AWS_MAIN] + [dict(AWS_MAIN, operation=op) for op in PLAYBOOK_OPERATIONS] + \
        [dict(AWS_MAIN, operation=op, outcome='changed') for op in PLAYBOOK_OPERATIONS]
    assert sorted(groups, key=sorted_items) == sorted(expected, key=sorted_items)


def sorted_items(labels):
    return sorted(labels.items())


# -- labels -----------------------------------------------------------------------------

def test_branch_with_a_slash_is_a_label_value_like_any_other(tmp_path, cache_dir, pushgateway, job):
    repo = make_lock_repo(tmp_path / 'feature.git', {'aws': {'env-1': '', 'env-2': ''}}, branch='feature/x')
    result = pool_lock(dict(repo=repo, cache_dir=cache_dir, pool='aws', branch='feature/x',
                            prometheus_push_gateway=pushgateway.url, prometheus_job=job), name='env-1', holder='alice')
    assert result['changed'] and not warning_texts(result)
    assert pushgateway.value(job, 'resource_pool_num_claimed_locks', pool='aws', branch='feature/x') == 1
    assert outcomes(pushgateway, job) == [('claim_lock', 'changed')]


def test_job_defaults_to_lockpool_and_the_gateway_comes_from_the_environment(lock_args, pushgateway):
    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice'),
                        env={'LOCKPOOL_PROMETHEUS_PUSH_GATEWAY': pushgateway.url})
    assert result['changed']
    assert pushgateway.value('lockpool', 'resource_pool_num_claimed_locks', **AWS_MAIN) == 1


# -- outcomes ---------------------------------------------------------------------------

def test_reclaim_by_the_same_holder_is_outcome_unchanged(metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice')
    pool_lock(metrics_args, name='env-1', holder='alice')
    assert outcomes(pushgateway, job) == [('claim_lock', 'changed'), ('claim_lock', 'unchanged')]


def test_nothing_free_without_waiting_is_outcome_not_acquired(metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice')
    result = pool_lock(metrics_args, name='env-1', holder='bob', wait=False)
    assert not result['acquired']
    assert outcomes(pushgateway, job) == [('claim_lock', 'changed'), ('claim_lock', 'not_acquired')]


def test_a_timeout_is_outcome_timed_out_with_the_time_it_waited(metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice')
    result = pool_lock(metrics_args, name='env-1', holder='bob', timeout='1s', retry_delay='0.2s')
    assert result['failed']
    timed_out = dict(AWS_MAIN, operation='claim_lock', outcome='timed_out')
    waited = pushgateway.value(job, 'lockpool_operation_wait_seconds', **timed_out)
    assert 0.5 < waited <= pushgateway.value(job, 'lockpool_operation_duration_seconds', **timed_out)
    assert pushgateway.value(job, 'lockpool_operation_duration_seconds', **timed_out) >= 1.0
    assert waiters(pushgateway, job) == []


def test_a_failed_run_is_outcome_failed_and_keeps_the_last_completed_runs_pix4d_metrics(metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice')
    completed_took = pushgateway.value(job, 'resource_pool_execution_time_sum', operation='claim_lock', **AWS_MAIN)
    result = pool_lock(metrics_args, name='env-9', holder='alice')
    assert result['failed']
    assert outcomes(pushgateway, job) == [('claim_lock', 'changed'), ('claim_lock', 'failed')]
    assert pushgateway.value(job, 'resource_pool_execution_time_sum', operation='claim_lock', **AWS_MAIN) == completed_took
    assert pushgateway.value(job, 'resource_pool_num_claimed_locks', **AWS_MAIN) == 1


def test_update_of_a_held_lock_that_times_out_is_labelled_update_lock(metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice')
    result = pool_lock(metrics_args, name='env-1', holder='bob', state='present', metadata='new', timeout='1s',
                       retry_delay='0.2s')
    assert result['failed']
    assert ('update_lock', 'timed_out') in outcomes(pushgateway, job)


def test_a_lost_push_race_is_counted(aws_repo, metrics_args, pushgateway, job):
    lose_next_push_race(aws_repo)
    result = pool_lock(metrics_args, name='env-1', holder='alice')
    assert result['changed'] and result['attempts'] == 1
    changed = dict(AWS_MAIN, operation='claim_lock', outcome='changed')
    assert pushgateway.value(job, 'lockpool_operation_push_races_lost', **changed) == 1


def test_check_mode_pushes_nothing(metrics_args, pushgateway, job):
    result = run_module('pool_lock', dict(metrics_args, name='env-1', holder='alice'), check_mode=True)
    assert result['changed']
    assert pushgateway.samples(job) == []


# -- the gateway is down --------------------------------------------------------------------

def test_gateway_down_is_a_warning_and_the_lock_still_changes(aws_repo, lock_args):
    down = 'http://127.0.0.1:%d' % free_port()
    result = pool_lock(lock_args, name='env-1', holder='alice', prometheus_push_gateway=down)
    assert result['rc'] == 0 and not result.get('failed')
    assert result['changed'] and result['acquired']
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    texts = warning_texts(result)
    assert any(text.startswith('metrics were not pushed to the Prometheus Pushgateway %s: ' % down) for text in texts), texts


# -- a gateway that accepts and never answers ---------------------------------------------------

@pytest.fixture
def silent_gateway():
    """The URL of a TCP server that accepts every connection and never answers: a gateway that hangs."""
    server = StallingProxy(free_port())
    server.stall()
    yield 'http://127.0.0.1:%d' % server.port
    server.close()


def did_not_answer(texts, gateway):
    """True when ``texts`` are exactly one warning, that says the gateway did not answer."""
    prefix = 'metrics were not pushed to the Prometheus Pushgateway %s: it did not answer within ' % gateway
    return len(texts) == 1 and texts[0].startswith(prefix) and texts[0].endswith('(the lock operation is not affected)')


def test_a_gateway_that_never_answers_costs_a_claim_one_bounded_push_within_its_timeout(aws_repo, lock_args, silent_gateway):
    started = time.monotonic()
    result = pool_lock(lock_args, name='env-1', holder='alice', timeout=8, prometheus_push_gateway=silent_gateway)
    took = time.monotonic() - started
    assert result['changed'] and result['acquired'] and not result.get('failed')
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    assert did_not_answer(warning_texts(result), silent_gateway), warning_texts(result)
    assert took < 8  # it took 21.8 s when each of the task end's four requests waited 5 s for an answer


def test_a_wait_that_times_out_is_not_prolonged_by_a_gateway_that_never_answers(lock_args, silent_gateway):
    pool_lock(lock_args, name='env-1', holder='alice')
    started = time.monotonic()
    result = pool_lock(lock_args, name='env-1', holder='bob', timeout=3, retry_delay='0.5s', prometheus_push_gateway=silent_gateway)
    took = time.monotonic() - started
    assert result['failed'] and 'gave up after 3s' in result['msg']
    assert did_not_answer(warning_texts(result), silent_gateway), warning_texts(result)
    # the timeout, the half second a timed-out run has to report it, and the module's start; the waiter's
    # registration and deletion and the task end's pushes each waited 5 s for an answer before
    assert took < 3 + 3


# -- a gateway with basic auth -------------------------------------------------------------------

@pytest.fixture(scope='module')
def guarded_gateway():
    """A real gateway that lets only GATEWAY_USER in, with HTTP basic auth."""
    gateway = Pushgateway({GATEWAY_USER: GATEWAY_PASSWORD}).start()
    yield gateway
    gateway.stop()


def url_with_credentials(gateway):
    return gateway.url.replace('://', '://%s:%s@' % (GATEWAY_USER, quote(GATEWAY_PASSWORD, safe='')))


def assert_hidden(text):
    for form in (GATEWAY_PASSWORD, quote(GATEWAY_PASSWORD, safe='')):
        assert form not in text


def test_basic_auth_options_let_the_pushes_in(lock_args, guarded_gateway, job):
    result = pool_lock(lock_args, name='env-1', holder='alice', prometheus_push_gateway=guarded_gateway.url, prometheus_job=job,
                       prometheus_push_gateway_username=GATEWAY_USER, prometheus_push_gateway_password=GATEWAY_PASSWORD)
    assert result['changed'] and warning_texts(result) == []
    assert guarded_gateway.value(job, 'resource_pool_num_claimed_locks', **AWS_MAIN) == 1
    assert_hidden(json.dumps(result))


def test_basic_auth_options_may_come_from_the_environment(lock_args, guarded_gateway, job):
    env = {'LOCKPOOL_PROMETHEUS_PUSH_GATEWAY': guarded_gateway.url, 'LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_USERNAME': GATEWAY_USER,
           'LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_PASSWORD': GATEWAY_PASSWORD}
    result = run_module('pool_lock', dict(lock_args, name='env-1', holder='alice', prometheus_job=job), env=env)
    assert result['changed'] and warning_texts(result) == []
    assert outcomes(guarded_gateway, job) == [('claim_lock', 'changed')]


def test_credentials_written_into_the_gateway_url_are_sent_as_basic_auth_and_masked(lock_args, guarded_gateway, job):
    result = pool_lock(lock_args, name='env-1', holder='alice', prometheus_push_gateway=url_with_credentials(guarded_gateway),
                       prometheus_job=job)
    assert result['changed'] and warning_texts(result) == []
    assert guarded_gateway.value(job, 'resource_pool_num_claimed_locks', **AWS_MAIN) == 1
    assert_hidden(json.dumps(result))
    assert GATEWAY_USER in result['invocation']['module_args']['prometheus_push_gateway']


def test_a_password_the_gateway_refuses_is_a_warning_that_names_the_options_and_not_the_password(aws_repo, lock_args, guarded_gateway):
    wrong = url_with_credentials(guarded_gateway).replace('SENTINEL', 'WRONG')
    result = pool_lock(lock_args, name='env-1', holder='alice', prometheus_push_gateway=wrong)
    assert result['changed'] and pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    [warning] = warning_texts(result)
    assert warning.startswith('metrics were not pushed to the Prometheus Pushgateway %s: ' % guarded_gateway.url)
    assert 'HTTP 401' in warning and 'prometheus_push_gateway_password' in warning
    assert_hidden(json.dumps(result).replace('WRONG', 'SENTINEL'))


GATEWAY_PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  module_defaults:
    lockpool.git.pool_lock: {repo: "{{ repo }}", cache_dir: "{{ cache_dir }}", pool: aws, holder: ops, prometheus_job: "{{ job }}"}
  tasks:
    - lockpool.git.pool_lock: {name: env-1, prometheus_push_gateway: "{{ url_with_credentials }}"}
    - lockpool.git.pool_lock:
        name: env-1
        state: released
        prometheus_push_gateway: "{{ url }}"
        prometheus_push_gateway_username: "{{ user }}"
        prometheus_push_gateway_password: "{{ password }}"
'''


def test_no_gateway_password_in_the_vvv_output_of_a_play(tmp_path, aws_repo, cache_dir, guarded_gateway, job):
    playbook = tmp_path / 'guarded.yml'
    playbook.write_text(GATEWAY_PLAYBOOK)
    completed = run_playbook(playbook, dict(repo=aws_repo, cache_dir=cache_dir, job=job, url=guarded_gateway.url,
                                            url_with_credentials=url_with_credentials(guarded_gateway),
                                            user=GATEWAY_USER, password=GATEWAY_PASSWORD), verbosity=3)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert '"prometheus_push_gateway_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output  # -vvv shows invocations
    assert_hidden(output)
    assert outcomes(guarded_gateway, job) == [('claim_lock', 'changed'), ('release_lock', 'changed')]


# -- the queue --------------------------------------------------------------------------------

@pytest.fixture
def waiting_run(metrics_args, pushgateway, job):
    """bob waits for env-1, which alice holds; yields his running module once the gateway lists him as a waiter."""
    pool_lock(metrics_args, name='env-1', holder='alice')
    running = start_module('pool_lock', dict(metrics_args, name='env-1', holder='bob', timeout='90s', retry_delay='0.5s'))
    try:
        eventually(lambda: waiters(pushgateway, job))
        yield running
    finally:
        if running.process.poll() is None:
            running.kill()


def test_a_waiting_run_is_listed_as_one_waiter_of_its_pool(waiting_run, pushgateway, job):
    [waiter] = waiters(pushgateway, job)
    assert waiter['pool'] == 'aws' and waiter['branch'] == 'main'
    assert '-%d-' % waiting_run.process.pid in waiter['waiter']
    since = pushgateway.value(job, 'lockpool_waiter_since_timestamp_seconds', **waiter)
    assert time.time() - 30 < since <= pushgateway.value(job, HEARTBEAT, **waiter)


def test_a_waiter_leaves_the_queue_when_it_acquires(waiting_run, metrics_args, pushgateway, job):
    pool_lock(metrics_args, name='env-1', holder='alice', state='released')
    result = waiting_run.result(60)
    assert result['acquired'] and result['lock']['holder'] == 'bob'
    assert waiters(pushgateway, job) == []
    acquired = dict(AWS_MAIN, operation='claim_lock', outcome='changed')
    assert pushgateway.value(job, 'lockpool_operation_wait_seconds', **acquired) > 0


def test_a_live_waiters_heartbeat_advances(waiting_run, pushgateway, job):
    [waiter] = waiters(pushgateway, job)
    first = pushgateway.value(job, HEARTBEAT, **waiter)
    second = eventually(lambda: (pushgateway.value(job, HEARTBEAT, **waiter) or 0) > first and
                        pushgateway.value(job, HEARTBEAT, **waiter), timeout=HEARTBEAT_SECONDS + 10)
    assert second - first >= HEARTBEAT_SECONDS - 1


def test_a_killed_waiter_stays_listed_with_a_heartbeat_that_no_longer_moves(waiting_run, pushgateway, job):
    waiting_run.kill()
    [waiter] = waiters(pushgateway, job)
    last_heartbeat = pushgateway.value(job, HEARTBEAT, **waiter)
    time.sleep(HEARTBEAT_SECONDS + 1.5)
    assert waiters(pushgateway, job) == [waiter]
    assert pushgateway.value(job, HEARTBEAT, **waiter) == last_heartbeat


def test_the_next_run_deletes_waiters_whose_heartbeat_is_stale_only(metrics_args, pushgateway, job):
    stale = dict(AWS_MAIN, waiter='ci-7-4242-0badc0de')
    fresh = dict(AWS_MAIN, waiter='ci-8-4343-0f00d000')
    push_waiter(pushgateway, job, stale, heartbeat=time.time() - 600)
    push_waiter(pushgateway, job, fresh, heartbeat=time.time())
    pool_lock(metrics_args, name='env-1', holder='alice')
    assert waiters(pushgateway, job) == [fresh]


def push_waiter(pushgateway, job, grouping_key, heartbeat):
    """Leave on the gateway what a waiter leaves behind when it is killed at ``heartbeat``."""
    registry = CollectorRegistry()
    Gauge('lockpool_waiter_since_timestamp_seconds', 'When this run started waiting for a lock (Unix time).',
          registry=registry).set(heartbeat - 30)
    Gauge(HEARTBEAT, 'Last sign of life of this waiting run (Unix time); stale when the run was killed.',
          registry=registry).set(heartbeat)
    push_to_gateway(pushgateway.url, job=job, registry=registry, grouping_key=grouping_key)


# -- the dashboard -------------------------------------------------------------------------------

PROMQL_WORDS = {'sum', 'count', 'max', 'min', 'avg', 'by', 'on', 'and', 'or', 'unless', 'time', 'changes',
                'increase', 'max_over_time', 'clamp_min', 'vector', 'histogram_quantile', 'rate'}
LABELS = {'job', 'pool', 'branch', 'operation', 'outcome', 'waiter', 'le'}


def dashboard_queries():
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    return [target['expr'] for panel in dashboard['panels'] for target in panel.get('targets', ())]


def query_identifiers(expr):
    """The names a PromQL query uses, once strings, ranges and Grafana variables are taken out."""
    expr = re.sub(r'"[^"]*"|\[[^\]]*\]|\$\w+', ' ', expr)
    return set(re.findall(r'[A-Za-z_:][A-Za-z0-9_:]*', expr))


def test_every_dashboard_query_uses_only_metrics_we_push(waiting_run, pushgateway, job):
    pushed = set(name for name, _labels, _value in pushgateway.samples(job)) - GATEWAY_BOOKKEEPING
    assert {HEARTBEAT, 'resource_pool_num_available_locks', 'lockpool_operation_wait_seconds'} <= pushed
    queries = dashboard_queries()
    assert len(queries) >= 6
    for expr in queries:
        names = query_identifiers(expr)
        assert names & pushed, 'query names none of the metrics we push: %s' % expr
        assert names <= pushed | PROMQL_WORDS | LABELS, 'unknown names %s in %s' % (names - pushed - PROMQL_WORDS - LABELS, expr)

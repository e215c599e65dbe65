"""parse_message reads every commit message form Concourse versions, Pool Boy and we write (see concourse-facts)."""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._message import format_message, parse_message

BUILD_URL = 'https://ci.example.com/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42'


def test_our_own_message_reads_back_holder_team_and_lock():
    event = parse_message(format_message('claim', 'env-1', 'alice@runner', team='platform', pool='aws'))
    assert (event.operation, event.lock, event.holder, event.team) == ('claim', 'env-1', 'alice@runner', 'platform')


@pytest.mark.parametrize('operation, subject', [
    ('claim', 'claiming: env-1'),
    ('release', 'unclaiming: env-1'),
    ('add', 'adding unclaimed: env-1'),
    ('add_claimed', 'adding claimed: env-1'),
    ('remove', 'removing: env-1'),
    ('update', 'updating: env-1'),
])
def test_plain_concourse_subject_names_the_operation_and_no_holder(operation, subject):
    event = parse_message(subject + '\n')
    assert (event.operation, event.lock, event.holder, event.team) == (operation, 'env-1', None, None)


def test_team_pipeline_job_build_prefix_is_the_holder_and_its_team_the_team():
    event = parse_message('main/deploy/deploy-aws build 42 claiming: env-1\n')
    assert (event.operation, event.lock) == ('claim', 'env-1')
    assert (event.holder, event.team) == ('main/deploy/deploy-aws build 42', 'main')


def test_prefix_before_every_verb():
    event = parse_message('main/deploy/deploy-aws build 43 unclaiming: env-1\n')
    assert (event.operation, event.lock, event.holder) == ('release', 'env-1', 'main/deploy/deploy-aws build 43')


def test_one_off_build_is_the_holder_without_a_team():
    event = parse_message('one-off build 1234 claiming: env-1\n')
    assert (event.lock, event.holder, event.team) == ('env-1', 'one-off build 1234', None)


def test_pipeline_job_build_before_v1_0_1_has_no_team():
    event = parse_message('deploy/deploy-aws build 7 claiming: env-1\n')
    assert (event.lock, event.holder, event.team) == ('env-1', 'deploy/deploy-aws build 7', None)


def test_pipeline_job_hash_number_of_2015_has_no_team():
    event = parse_message('deploy/deploy-aws #7 claiming: env-1\n')
    assert (event.lock, event.holder, event.team) == ('env-1', 'deploy/deploy-aws #7', None)


def test_instance_vars_prefix_keeps_the_team():
    event = parse_message('main/deploy/region:eu,size:2/deploy-aws build 9 claiming: env-1\n')
    assert (event.lock, event.holder, event.team) == ('env-1', 'main/deploy/region:eu,size:2/deploy-aws build 9', 'main')


def test_v1_8_build_url_line_is_the_holder_and_names_the_team():
    event = parse_message('claiming: env-1\nBuild URL: %s \n' % BUILD_URL)
    assert (event.operation, event.lock, event.holder, event.team) == ('claim', 'env-1', BUILD_URL, 'main')
    assert event.build_url == BUILD_URL


def test_v1_8_subject_as_git_log_shows_it_on_one_line():
    event = parse_message('claiming: env-1 Build URL: %s' % BUILD_URL)
    assert (event.lock, event.holder, event.team) == ('env-1', BUILD_URL, 'main')


def test_v1_8_bare_build_url_line_leaves_the_holder_unknown():
    event = parse_message('unclaiming: env-1\nBuild URL:\n')
    assert (event.operation, event.lock, event.holder, event.team) == ('release', 'env-1', None, None)


def test_pool_boy_release_is_read_with_its_author():
    event = parse_message('Freshening up the pool with 3 changes\n', author='Pool Boy')
    assert (event.operation, event.lock, event.holder) == ('reap', None, 'Pool Boy')


def test_a_message_about_no_lock_is_none():
    assert parse_message('initial pools\n') is None


@pytest.mark.parametrize('operation, subject', [('renew', 'renewing: env-1'), ('move', 'moving: env-1')])
def test_our_own_renewals_and_moves_are_read_with_their_holder(operation, subject):
    event = parse_message(subject + '\n\nLock-Holder: alice\n')
    assert (event.operation, event.lock, event.holder) == (operation, 'env-1', 'alice')

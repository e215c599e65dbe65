"""Dirty environments against real repositories: a play that broke its environment releases its lock dirty, nothing
(Concourse included) takes it until a reset marks it clean, and the role and the playbook lockpool.git.reset reset it.

See docs/dirty-locks.md. The locks are read back with the git command line and with pool_lock_info.
"""

import json
import signal

import pytest
import yaml

from support.concourse import concourse_in, concourse_out, make_concourse_repo
from support.modules import run_module, run_playbook
from support.plays import Play, wait_until
from support.repos import git, last_message, pool_state


def pool_lock(lock_args, **more):
    return run_module('pool_lock', dict(lock_args, **more))


def lock_info(lock_args, name='env-1'):
    found = run_module('pool_lock_info', dict(lock_args, name=name))
    assert not found.get('failed'), found
    return found['pools']['aws']['locks'][0]


def released_dirty(lock_args, reason='deploy failed: the database did not come up', name='env-1'):
    held = pool_lock(lock_args, name=name, holder='job-7', job='awx 7')
    assert held['acquired'], held
    result = pool_lock(lock_args, name=name, holder='job-7', token=held['lock']['token'], state='released', dirty=True,
                       dirty_reason=reason)
    assert result['changed'] and result['lock']['state'] == 'dirty', result
    return held['lock']['token']


# -- the module -------------------------------------------------------------------------

def test_a_dirty_lock_stays_in_claimed_and_reads_as_dirty_with_its_job_and_reason(aws_repo, lock_args):
    released_dirty(lock_args)
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-1'], 'unclaimed': ['env-2']}
    assert git('diff-tree', '--no-commit-id', '-r', 'main', cwd=aws_repo).strip() == ''  # the commit changes no file
    found = lock_info(lock_args)
    assert (found['state'], found['dirty_by'], found['dirty_job'], found['dirty_reason']) == \
        ('dirty', 'job-7', 'awx 7', 'deploy failed: the database did not come up')
    pools = run_module('pool_lock_info', lock_args)['pools']['aws']
    assert (pools['available'], pools['claimed'], pools['dirty']) == (1, 1, 1)


def test_no_claim_takes_a_dirty_lock_not_even_its_last_holder(aws_repo, lock_args):
    released_dirty(lock_args)
    assert pool_lock(lock_args, holder='other', count=1)['lock']['name'] == 'env-2'
    again = pool_lock(lock_args, holder='job-7', name='env-1', wait=False)
    assert not again['acquired'] and 'is dirty since' in again['waiting_for']


def test_a_reset_claim_then_its_release_marks_the_lock_clean(aws_repo, lock_args):
    token = released_dirty(lock_args)
    reset = pool_lock(lock_args, holder='fixer', reset=True, wait=False, lease='10m')
    assert reset['acquired'] and reset['lock']['state'] == 'dirty' and reset['lock']['resetting']
    assert reset['lock']['token'] == token + 1
    pool_lock(lock_args, holder='fixer', name='env-1', token=reset['lock']['token'], state='released')
    assert lock_info(lock_args)['state'] == 'unclaimed'
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_the_history_has_the_dirty_release_and_the_reset_in_their_place(aws_repo, lock_args):
    token = released_dirty(lock_args)
    reset = pool_lock(lock_args, holder='fixer', reset=True, wait=False)
    pool_lock(lock_args, holder='fixer', name='env-1', token=reset['lock']['token'], state='released')
    history = run_module('pool_lock_info', dict(lock_args, name='env-1', history=4))['events']
    assert [(event['operation'], event['holder']) for event in history] == \
        [('release', 'fixer'), ('reset', 'fixer'), ('release_dirty', 'job-7'), ('claim', 'job-7')]
    assert token == reset['lock']['token'] - 1


def test_a_plain_release_of_a_dirty_lock_is_refused_and_changes_nothing(aws_repo, lock_args):
    released_dirty(lock_args)
    before = git('rev-parse', 'main', cwd=aws_repo)
    refused = pool_lock(lock_args, name='env-1', state='released')
    assert refused['failed'] and 'is dirty since' in refused['msg'] and 'or with force' in refused['msg']
    assert git('rev-parse', 'main', cwd=aws_repo) == before


def test_pool_reap_never_releases_a_dirty_lock(aws_repo, lock_args):
    released_dirty(lock_args)
    reaped = run_module('pool_reap', dict(lock_args, older_than='0s'))
    assert reaped['released'] == [] and lock_info(lock_args)['state'] == 'dirty'


def test_the_dirty_option_on_a_claim_is_refused(lock_args):
    refused = pool_lock(lock_args, name='env-1', dirty=True)
    assert refused['failed'] and 'dirty is an option of state released' in refused['msg']


def test_the_dirty_lock_count_is_pushed_to_the_pushgateway(lock_args, pushgateway):
    released_dirty(lock_args)
    pool_lock(lock_args, holder='other', name='env-2', prometheus_push_gateway=pushgateway.url, prometheus_job='dirty_count')
    assert pushgateway.value('dirty_count', 'lockpool_dirty_locks', pool='aws', branch='main') == 1
    assert pushgateway.value('dirty_count', 'resource_pool_num_claimed_locks', pool='aws', branch='main') == 2


# -- shared with Concourse ---------------------------------------------------------------

@pytest.fixture
def concourse_repo(tmp_path):
    return make_concourse_repo(tmp_path / 'shared.git', {'aws': {'env-1': 'region: eu-west-1\n', 'env-2': ''}})


def test_a_lock_concourse_claimed_released_dirty_still_reads_as_claimed_to_concourse(concourse_repo, tmp_path):
    args = dict(repo=concourse_repo, cache_dir=str(tmp_path / 'cache'), pool='aws')
    claim = concourse_out(concourse_repo, 'claim', 'aws', 'env-1')
    released = pool_lock(args, name='env-1', state='released', dirty=True, dirty_reason='the pipeline broke it')
    assert released['lock']['state'] == 'dirty' and released['lock']['dirty_job'] == 'main/deploy/deploy-aws build 42'
    # Concourse's in of its claim still holds: no commit touched the lock file; its check lists no new version.
    assert concourse_in(concourse_repo, 'aws', claim)['error'] is None
    assert git('log', '--format=%H', '%s..main' % claim, '--', 'aws', cwd=concourse_repo).strip() == ''
    assert pool_state(concourse_repo, 'aws')['unclaimed'] == ['env-2']  # all a Concourse acquire can take


def test_concourse_releasing_a_dirty_lock_makes_it_clean_for_us(concourse_repo, tmp_path):
    args = dict(repo=concourse_repo, cache_dir=str(tmp_path / 'cache'), pool='aws')
    concourse_out(concourse_repo, 'claim', 'aws', 'env-1')
    pool_lock(args, name='env-1', state='released', dirty=True)
    concourse_out(concourse_repo, 'release', 'aws', 'env-1')
    assert lock_info(args)['state'] == 'unclaimed'
    assert pool_lock(args, name='env-1', holder='next')['acquired']


# -- the role and the playbook -------------------------------------------------------------

def write_play(tmp_path, tasks_files, role_vars):
    """A play on localhost that includes the role; ``tasks_files`` maps a file name to its tasks."""
    for file_name, tasks in tasks_files.items():
        (tmp_path / file_name).write_text(yaml.safe_dump(tasks, sort_keys=False))
    include = [{'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'}, 'vars': role_vars}]
    play = tmp_path / 'play.yml'
    play.write_text(yaml.safe_dump([{'name': 'Deploy to aws', 'hosts': 'localhost', 'gather_facts': False, 'tasks': include}],
                                   sort_keys=False))
    return play


def role_vars(lock_args, tmp_path, **more):
    return dict(with_lock_repo=lock_args['repo'], with_lock_cache_dir=lock_args['cache_dir'], with_lock_pool='aws',
                with_lock_tasks=str(tmp_path / 'deploy.yml'), **more)


FAILING_DEPLOY = [{'name': 'Deploy the release', 'ansible.builtin.fail': {'msg': 'migration 42 failed on {{ with_lock_held.name }}'}}]
RECORD = [{'name': 'Record the lock', 'ansible.builtin.copy': {'content': '{{ with_lock_held | to_json }}', 'dest': '{{ record }}'}}]


def test_the_role_releases_the_lock_dirty_when_a_caller_task_fails_and_the_play_still_fails(aws_repo, lock_args, tmp_path):
    settings = role_vars(lock_args, tmp_path, with_lock_name='env-1', with_lock_dirty_on_failure=True)
    play = write_play(tmp_path, {'deploy.yml': FAILING_DEPLOY}, settings)
    completed = run_playbook(play)
    assert completed.returncode == 2, completed.stdout
    assert 'migration 42 failed on env-1' in completed.stdout
    found = lock_info(lock_args)
    assert found['state'] == 'dirty' and found['dirty_reason'] == 'Deploy the release failed: migration 42 failed on env-1'
    assert last_message(aws_repo).startswith('releasing dirty: env-1\n')


def test_without_dirty_on_failure_a_failing_caller_task_releases_the_lock_clean(aws_repo, lock_args, tmp_path):
    play = write_play(tmp_path, {'deploy.yml': FAILING_DEPLOY}, role_vars(lock_args, tmp_path, with_lock_name='env-1'))
    assert run_playbook(play).returncode == 2
    assert lock_info(lock_args)['state'] == 'unclaimed'


def test_the_role_resets_a_dirty_lock_before_it_acquires_one(aws_repo, lock_args, tmp_path):
    released_dirty(lock_args)
    reset_tasks = [{'name': 'Repair the environment', 'ansible.builtin.copy': {
        'content': '{{ with_lock_resetting | to_json }}', 'dest': str(tmp_path / 'reset.json')}}]
    play = write_play(tmp_path, {'deploy.yml': RECORD, 'reset.yml': reset_tasks},
                      role_vars(lock_args, tmp_path, with_lock_reset_tasks=str(tmp_path / 'reset.yml')))
    completed = run_playbook(play, extra_vars={'record': str(tmp_path / 'held.json')})
    assert completed.returncode == 0, completed.stdout
    resetting = json.loads((tmp_path / 'reset.json').read_text())
    assert (resetting['name'], resetting['state'], resetting['dirty_reason']) == \
        ('env-1', 'dirty', 'deploy failed: the database did not come up')
    assert json.loads((tmp_path / 'held.json').read_text())['state'] == 'claimed'
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_a_failed_reset_leaves_the_lock_dirty_saying_why_and_the_play_goes_on(aws_repo, lock_args, tmp_path):
    released_dirty(lock_args)
    failing_reset = [{'name': 'Repair the environment', 'ansible.builtin.fail': {'msg': 'disk still full'}}]
    play = write_play(tmp_path, {'deploy.yml': RECORD, 'reset.yml': failing_reset},
                      role_vars(lock_args, tmp_path, with_lock_reset_tasks=str(tmp_path / 'reset.yml')))
    completed = run_playbook(play, extra_vars={'record': str(tmp_path / 'held.json')})
    assert completed.returncode == 0, completed.stdout
    assert json.loads((tmp_path / 'held.json').read_text())['name'] == 'env-2'
    found = lock_info(lock_args)
    assert found['state'] == 'dirty' and found['dirty_reason'] == 'reset failed: Repair the environment failed: disk still full'


def test_the_reset_playbook_resets_every_dirty_lock_of_the_pool(aws_repo, lock_args, tmp_path):
    released_dirty(lock_args, name='env-1')
    released_dirty(lock_args, name='env-2')
    reset_tasks = tmp_path / 'reset.yml'
    reset_tasks.write_text(yaml.safe_dump([{'name': 'Repair', 'ansible.builtin.file': {
        'path': '%s/{{ with_lock_resetting.name }}.reset' % tmp_path, 'state': 'touch'}}]))
    completed = run_playbook('lockpool.git.reset', {'with_lock_repo': aws_repo, 'with_lock_cache_dir': lock_args['cache_dir'],
                                                    'with_lock_pool': 'aws', 'with_lock_reset_tasks': str(reset_tasks)})
    assert completed.returncode == 0, completed.stdout
    assert 'still dirty: none' in completed.stdout
    assert sorted(path.name for path in tmp_path.glob('*.reset')) == ['env-1.reset', 'env-2.reset']
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_a_reset_killed_as_schedulers_kill_leaves_the_lock_dirty_and_the_next_reset_takes_it_over(aws_repo, lock_args, tmp_path):
    released_dirty(lock_args)
    slow_reset = [{'name': 'Rebuild the environment', 'ansible.builtin.command': 'sleep 120', 'changed_when': True}]
    play = write_play(tmp_path, {'deploy.yml': RECORD, 'reset.yml': slow_reset},
                      role_vars(lock_args, tmp_path, with_lock_reset_tasks=str(tmp_path / 'reset.yml'), with_lock_lease='6s'))
    running = Play(play, tmp_path / 'play.log', extra_vars={'record': str(tmp_path / 'held.json')})
    wait_until(lambda: 'TASK [lockpool.git.with_lock : Rebuild the environment]' in running.output(), 120, what='the reset task')
    running.kill_group(signal.SIGKILL)  # AWX's cancel: no rescue, no always
    found = lock_info(lock_args)
    assert (found['state'], found['resetting'], found['dirty_reason']) == ('dirty', True, 'deploy failed: the database did not come up')
    assert not pool_lock(lock_args, holder='someone', name='env-1', wait=False)['acquired']  # never handed out meanwhile
    taken = pool_lock(lock_args, holder='next-reset', reset=True, lease='1m', timeout='60s')
    assert taken['acquired'] and taken['lock']['holder'] == 'next-reset'
    assert taken['lock']['dirty_reason'] == 'deploy failed: the database did not come up'

"""The role lockpool.git.with_lock run by ansible-playbook against real lock repositories.

Each test writes the caller's tasks file and a play that includes the role, runs it, and reads the
repository with the git CLI afterwards.
"""

import json
import re
import threading

import yaml

from support.modules import run_module, run_playbook
from support.repos import commit_count, git, last_message, make_lock_repo, pool_state

RECORD_LOCK = [{'name': 'Record the lock the role exposes',
                'ansible.builtin.copy': {'content': '{{ with_lock_held | to_json }}', 'dest': '{{ record }}'}}]


def write_play(tmp_path, caller_tasks, role_vars, include=None, name='Deploy to aws'):
    """A play on localhost that includes the role (or ``include``, a list of tasks) with ``role_vars``."""
    tasks_file = tmp_path / 'deploy.yml'
    tasks_file.write_text(yaml.safe_dump(caller_tasks, sort_keys=False))
    include = include or [{'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'},
                           'vars': dict({'with_lock_tasks': str(tasks_file)}, **role_vars)}]
    play = tmp_path / 'play.yml'
    play.write_text(yaml.safe_dump([{'name': name, 'hosts': 'localhost', 'gather_facts': False, 'tasks': include}],
                                   sort_keys=False))
    return play


def role_vars(repo, tmp_path, **more):
    return dict({'with_lock_repo': repo, 'with_lock_cache_dir': str(tmp_path / 'cache'), 'with_lock_pool': 'aws'}, **more)


def recorded(tmp_path):
    return json.loads((tmp_path / 'lock.json').read_text())


def run(play, tmp_path, **extra_vars):
    return run_playbook(play, extra_vars=dict({'record': str(tmp_path / 'lock.json')}, **extra_vars))


def claim_as(repo, tmp_path, holder, name='env-1'):
    result = run_module('pool_lock', {'repo': repo, 'cache_dir': str(tmp_path / 'other-cache'), 'pool': 'aws',
                                      'name': name, 'holder': holder})
    assert result['acquired'], result


def test_caller_tasks_see_the_claimed_lock_and_it_is_released_after(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path, with_lock_name='env-2'))
    completed = run(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    lock = recorded(tmp_path)
    assert (lock['name'], lock['pool'], lock['state']) == ('env-2', 'aws', 'claimed')
    assert lock['metadata'] == '{"region": "us-east-1"}\n'
    assert lock['data'] == {'region': 'us-east-1'}
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}
    assert last_message(aws_repo).splitlines()[0] == 'unclaiming: env-2'
    assert 'Lock-Holder: %s' % lock['holder'] in last_message(aws_repo).splitlines()


def test_without_a_name_the_role_claims_any_free_lock(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'someone-else', name='env-1')
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path))
    completed = run(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path)['name'] == 'env-2'
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-1'], 'unclaimed': ['env-2']}


def test_a_failing_caller_task_fails_the_play_with_its_own_error_and_the_lock_is_released(aws_repo, tmp_path):
    failing = [{'name': 'Deploy', 'ansible.builtin.fail': {'msg': 'deploy broke on {{ with_lock_held.name }}'}}]
    play = write_play(tmp_path, failing, role_vars(aws_repo, tmp_path, with_lock_name='env-1'))
    completed = run(play, tmp_path)
    assert completed.returncode == 2
    assert 'deploy broke on env-1' in completed.stdout
    assert 'Release lock env-1 in pool aws' in completed.stdout
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_a_failure_before_acquisition_releases_nothing_and_shows_the_modules_error(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'someone-else')
    commits = commit_count(aws_repo)
    play = write_play(tmp_path, RECORD_LOCK,
                      role_vars(aws_repo, tmp_path, with_lock_name='env-1', with_lock_timeout=1, with_lock_poll_interval=1))
    completed = run(play, tmp_path)
    assert completed.returncode == 2
    assert "lock 'env-1' in pool 'aws' is claimed by someone-else" in completed.stdout
    assert 'gave up after 1s' in completed.stdout
    assert not (tmp_path / 'lock.json').exists()
    assert commit_count(aws_repo) == commits
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']


def test_a_lock_another_holder_took_meanwhile_is_not_released_by_the_role(aws_repo, tmp_path):
    intruder = [{'name': 'Someone forces the lock away and claims it',
                 'lockpool.git.pool_lock': {'repo': aws_repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws',
                                            'name': 'env-1', 'state': 'released', 'holder': 'intruder', 'force': True}},
                {'name': 'The intruder claims it',
                 'lockpool.git.pool_lock': {'repo': aws_repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws',
                                            'name': 'env-1', 'holder': 'intruder'}}]
    play = write_play(tmp_path, intruder, role_vars(aws_repo, tmp_path, with_lock_name='env-1'))
    completed = run(play, tmp_path)
    assert completed.returncode == 2
    assert 'that claim is over, it is claimed again with token 2 by intruder' in completed.stdout
    assert pool_state(aws_repo, 'aws')['claimed'] == ['env-1']
    assert 'Lock-Holder: intruder' in last_message(aws_repo).splitlines()


def test_two_concurrent_runs_of_one_playbook_are_two_holders_and_take_turns(tmp_path):
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': ''}})
    log = tmp_path / 'turns.log'
    hold_a_while = [{'name': 'Work on the environment for a while',
                     'ansible.builtin.shell': 'echo "start {{ with_lock_held.holder }}" >> %s; sleep 3; '
                                              'echo "end {{ with_lock_held.holder }}" >> %s' % (log, log)}]
    play = write_play(tmp_path, hold_a_while, role_vars(repo, tmp_path, with_lock_poll_interval=1))
    outputs = []
    runs = [threading.Thread(target=lambda: outputs.append(run(play, tmp_path))) for _repetition in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert [completed.returncode for completed in outputs] == [0, 0], [completed.stdout for completed in outputs]
    lines = log.read_text().splitlines()
    first, second = lines[0].split(' ', 1)[1], lines[2].split(' ', 1)[1]
    assert first != second
    assert lines == ['start ' + first, 'end ' + first, 'start ' + second, 'end ' + second]
    waiting = "Waiting for a free lock: no lock in pool 'aws' is free"
    assert any(waiting in completed.stdout for completed in outputs)
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}


def test_in_awx_the_holder_names_the_job_template_and_user(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path))
    completed = run(play, tmp_path, awx_job_id=4242, awx_job_template_name='Deploy app', awx_user_name='alice')
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path)['holder'] == 'awx job 4242 (Deploy app) by alice'


def test_in_tower_the_holder_names_the_job_from_the_tower_variables(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path))
    completed = run(play, tmp_path, tower_job_id=77, tower_job_template_name='Nightly', tower_user_name='bob')
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path)['holder'] == 'awx job 77 (Nightly) by bob'


def test_outside_awx_the_holder_names_user_host_play_and_a_run_id(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path), name='Nightly deploy')
    holders = []
    for _repetition in range(2):
        assert run(play, tmp_path).returncode == 0
        holders.append(recorded(tmp_path)['holder'])
    for holder in holders:
        user_at_host, rest = holder.split(' ', 1)
        assert '@' in user_at_host and not user_at_host.startswith('@') and not user_at_host.endswith('@')
        assert rest.startswith('play Nightly deploy run ')
    assert holders[0] != holders[1]


def test_a_holder_given_by_the_caller_is_used(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path, with_lock_holder='release-train-12'))
    assert run(play, tmp_path).returncode == 0
    assert recorded(tmp_path)['holder'] == 'release-train-12'


def test_acquire_and_release_entry_points_wrap_the_callers_own_block(aws_repo, tmp_path):
    own_block = [{'name': 'My own block', 'block': [
        {'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': 'acquire'},
         'vars': role_vars(aws_repo, tmp_path, with_lock_name='env-1')},
        RECORD_LOCK[0],
    ], 'always': [
        {'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': 'release'},
         'vars': role_vars(aws_repo, tmp_path)},
    ]}]
    play = write_play(tmp_path, [], {}, include=own_block)
    completed = run(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path)['state'] == 'claimed'
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_the_release_entry_point_without_an_acquired_lock_changes_nothing(aws_repo, tmp_path):
    release_only = [{'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': 'release'},
                     'vars': role_vars(aws_repo, tmp_path)}]
    commits = commit_count(aws_repo)
    completed = run(write_play(tmp_path, [], {}, include=release_only), tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert commit_count(aws_repo) == commits


def test_role_arguments_are_validated_against_the_argument_specs(aws_repo, tmp_path):
    no_pool = role_vars(aws_repo, tmp_path)
    del no_pool['with_lock_pool']
    completed = run(write_play(tmp_path, RECORD_LOCK, no_pool), tmp_path)
    assert completed.returncode == 2
    assert 'missing required arguments: with_lock_pool' in completed.stdout
    assert commit_count(aws_repo) == 1


# -- connection options -------------------------------------------------------------------------

def module_invocations(stdout):
    """The arguments of every module run that ``ansible-playbook -vvv`` printed, in order."""
    results = [json.loads(block) for block in re.findall(r'^\w+: \[[^\]\n]+\] => (\{$.*?^\})$', stdout, re.M | re.S)]
    return [result['invocation']['module_args'] for result in results if 'invocation' in result]


def test_the_role_hands_git_config_to_the_claim_and_the_release(aws_repo, tmp_path):
    # The repository is reachable only through git_config's url.<repo>.insteadOf.
    via_git_config = role_vars('locks:', tmp_path, with_lock_name='env-1',
                               with_lock_git_config={'url.%s.insteadOf' % aws_repo: 'locks:'})
    completed = run(write_play(tmp_path, RECORD_LOCK, via_git_config), tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path)['state'] == 'claimed'
    assert last_message(aws_repo).splitlines()[0] == 'unclaiming: env-1'
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_the_role_hands_ssl_verify_to_the_claim_and_the_release(aws_repo, tmp_path):
    play = write_play(tmp_path, RECORD_LOCK, role_vars(aws_repo, tmp_path, with_lock_name='env-1', with_lock_ssl_verify=False))
    completed = run_playbook(play, extra_vars={'record': str(tmp_path / 'lock.json')}, verbosity=3)
    assert completed.returncode == 0, completed.stdout
    lock_tasks = [args for args in module_invocations(completed.stdout) if args.get('pool') == 'aws']
    assert [(args['state'], args['ssl_verify']) for args in lock_tasks] == [('claimed', False), ('released', False)]


# -- check mode ---------------------------------------------------------------------------

# Records the lock the caller's tasks see even in check mode, where a copy task would write nothing.
RECORD_LOCK_IN_CHECK_MODE = [dict(RECORD_LOCK[0], check_mode=False)]


def refs(repo):
    """Every ref of the repository and its commit: check mode must leave all of them (queue tickets too) as they were."""
    return git('for-each-ref', '--format=%(refname) %(objectname)', cwd=repo)


def run_in_check_mode(play, tmp_path):
    return run_playbook(play, extra_vars={'record': str(tmp_path / 'lock.json')}, check=True)


def test_in_check_mode_a_free_named_lock_is_shown_to_the_callers_tasks_and_nothing_is_claimed(aws_repo, tmp_path):
    before = refs(aws_repo)
    play = write_play(tmp_path, RECORD_LOCK_IN_CHECK_MODE, role_vars(aws_repo, tmp_path, with_lock_name='env-1'))
    completed = run_in_check_mode(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    lock = recorded(tmp_path)
    assert (lock['name'], lock['pool'], lock['state'], lock['data']) == ('env-1', 'aws', 'unclaimed', {'region': 'eu-west-1'})
    assert refs(aws_repo) == before
    assert pool_state(aws_repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2']}


def test_in_check_mode_any_free_lock_is_shown_to_the_callers_tasks_and_nothing_is_claimed(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'alice', name='env-1')
    before = refs(aws_repo)
    play = write_play(tmp_path, RECORD_LOCK_IN_CHECK_MODE, role_vars(aws_repo, tmp_path))
    completed = run_in_check_mode(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert 'Check mode: a real run would claim a free lock of pool aws' in completed.stdout
    lock = recorded(tmp_path)
    assert (lock['name'], lock['pool'], lock['state'], lock['data']) == ('env-2', 'aws', 'unclaimed', {'region': 'us-east-1'})
    assert refs(aws_repo) == before
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-1'], 'unclaimed': ['env-2']}


def test_in_check_mode_a_busy_named_lock_is_waited_for_by_nothing_and_stays_its_holders(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'alice', name='env-1')
    before = refs(aws_repo)
    play = write_play(tmp_path, RECORD_LOCK_IN_CHECK_MODE, role_vars(aws_repo, tmp_path, with_lock_name='env-1'))
    completed = run_in_check_mode(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert "Check mode: a real run would wait here: lock 'env-1' in pool 'aws' is claimed by alice" in completed.stdout
    assert 'Check mode: skip the tasks, a real run runs them once it holds a lock: %s' % (tmp_path / 'deploy.yml') in completed.stdout
    assert not (tmp_path / 'lock.json').exists()
    assert refs(aws_repo) == before
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-1'], 'unclaimed': ['env-2']}
    assert 'Lock-Holder: alice' in last_message(aws_repo).splitlines()


def test_in_check_mode_a_pool_with_no_free_lock_is_waited_for_by_nothing_and_stays_its_holders(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'alice', name='env-1')
    claim_as(aws_repo, tmp_path, 'bob', name='env-2')
    before = refs(aws_repo)
    play = write_play(tmp_path, RECORD_LOCK_IN_CHECK_MODE, role_vars(aws_repo, tmp_path))
    completed = run_in_check_mode(play, tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert "Check mode: a real run would wait here: no lock in pool 'aws' is free" in completed.stdout
    assert 'Check mode: skip the tasks, a real run runs them once it holds a lock: %s' % (tmp_path / 'deploy.yml') in completed.stdout
    assert not (tmp_path / 'lock.json').exists()
    assert refs(aws_repo) == before
    assert pool_state(aws_repo, 'aws') == {'claimed': ['env-1', 'env-2'], 'unclaimed': []}


def test_in_check_mode_the_acquire_entry_point_on_a_busy_lock_leaves_pool_lock_null_and_releases_nothing(aws_repo, tmp_path):
    claim_as(aws_repo, tmp_path, 'alice', name='env-1')
    before = refs(aws_repo)
    own_block = [{'name': 'My own block', 'block': [
        {'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': 'acquire'},
         'vars': role_vars(aws_repo, tmp_path, with_lock_name='env-1')},
        RECORD_LOCK_IN_CHECK_MODE[0],
    ], 'always': [
        {'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': 'release'},
         'vars': role_vars(aws_repo, tmp_path)},
    ]}]
    completed = run_in_check_mode(write_play(tmp_path, [], {}, include=own_block), tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert recorded(tmp_path) is None
    assert refs(aws_repo) == before
    assert 'Lock-Holder: alice' in last_message(aws_repo).splitlines()

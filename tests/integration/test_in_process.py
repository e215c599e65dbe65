"""On the controller, pool_lock runs inside the task's worker (no module process), with the same results as the module.

Every play here runs twice through real ansible-playbook: as users run it (in-process on localhost) and with
LOCKPOOL_IN_PROCESS=0 (the module in a process of its own, as on any other host). The behaviour tests of
pool_lock run on both paths too (the ``both_paths`` fixture); these check what only a play shows.
"""

import json
import re

import pytest

from support.modules import run_playbook
from support.repos import commit_count, make_lock_repo, pool_state

PATHS = {'in-process': '1', 'module': '0'}
# What differs between two runs of one play whatever runs it: commits, times, ages, tokens.
VOLATILE = re.compile(r'[0-9a-f]{40}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|"(?:age|token|waited)": [0-9.]+')


@pytest.fixture
def repo(tmp_path):
    return make_lock_repo(str(tmp_path / 'locks.git'), {'aws': {'env-1': 'region: eu-west-1\n', 'env-2': 'b'}})


def write_play(tmp_path, repo, tasks, name='play.yml'):
    """A play on localhost whose tasks (YAML text, indented as tasks) get the lock options as ``lock``; it writes
    every registered result to results.json."""
    path = tmp_path / name
    path.write_text('''- hosts: localhost
  gather_facts: false
  vars:
    lock: {repo: %s, cache_dir: %s, pool: aws, holder: alice}
  tasks:
%s
    - ansible.builtin.copy:
        content: "{{ results | default({}) | to_nice_json }}"
        dest: %s
      check_mode: false
      diff: false
''' % (repo, tmp_path / 'cache', tasks, tmp_path / 'results.json'))
    return path


def play(tmp_path, path, run_path, **options):
    completed = run_playbook(path, env={'LOCKPOOL_IN_PROCESS': PATHS[run_path]}, **options)
    results = json.loads((tmp_path / 'results.json').read_text()) if (tmp_path / 'results.json').exists() else None
    return completed, results


def comparable(results):
    return VOLATILE.sub('~', json.dumps(results, sort_keys=True, indent=1))


TASKS = '''    - lockpool.git.pool_lock: "{{ lock | combine({'name': 'env-1'}) }}"
      register: claimed
    - lockpool.git.pool_lock: "{{ lock | combine({'name': 'env-1', 'state': 'released', 'token': claimed.lock.token}) }}"
      register: released
    - lockpool.git.pool_lock: "{{ lock | combine({'name': 'env-9', 'state': 'released'}) }}"
      register: missing
      ignore_errors: true
    - lockpool.git.pool_lock: "{{ lock | combine({'name': 'env 7', 'state': 'present'}) }}"
      register: warned
    - lockpool.git.pool_lock: "{{ lock | combine({'name': 'env 7', 'state': 'absent'}) }}"
    - ansible.builtin.set_fact:
        results: {claimed: "{{ claimed }}", released: "{{ released }}", missing: "{{ missing }}", warned: "{{ warned }}"}
'''


def test_on_the_controller_pool_lock_runs_in_the_worker_without_a_module_process(tmp_path, repo):
    completed, _results = play(tmp_path, write_play(tmp_path, repo, TASKS), 'in-process', verbosity=3)
    assert completed.returncode == 0, completed.stdout
    assert 'AnsiballZ_pool_lock' not in completed.stdout
    assert 'AnsiballZ_copy' in completed.stdout  # the same output shows the modules that do run as processes


def test_with_LOCKPOOL_IN_PROCESS_0_it_runs_as_a_module_process(tmp_path, repo):
    completed, _results = play(tmp_path, write_play(tmp_path, repo, TASKS), 'module', verbosity=3)
    assert completed.returncode == 0, completed.stdout
    assert 'AnsiballZ_pool_lock' in completed.stdout


def test_both_paths_return_the_same_results_failures_and_warnings(tmp_path, repo):
    path = write_play(tmp_path, repo, TASKS)
    runs = dict((run_path, play(tmp_path, path, run_path)) for run_path in PATHS)
    for completed, _results in runs.values():
        assert completed.returncode == 0, completed.stdout
    assert comparable(runs['in-process'][1]) == comparable(runs['module'][1])
    assert runs['module'][1]['claimed']['acquired'] and runs['module'][1]['released']['changed']
    assert runs['module'][1]['missing']['msg'] == "lock 'env-9' does not exist in pool 'aws'"
    for completed, _results in runs.values():  # the warning of the lock named with a space, shown once by each
        assert (completed.stdout + completed.stderr).count("lock name 'env 7': it has white space") == 1, completed.stderr


def test_both_paths_show_the_same_diff_in_check_mode_and_change_nothing(tmp_path, repo):
    update = "{'name': 'env-2', 'state': 'present', 'metadata': 'region: us-east-1'}"
    path = write_play(tmp_path, repo, '''    - lockpool.git.pool_lock: "{{ lock | combine(%s) }}"
      register: updated
    - ansible.builtin.set_fact:
        results: {updated: "{{ updated }}"}
''' % update)
    commits = commit_count(repo)
    outputs = {}
    for run_path in PATHS:
        completed, results = play(tmp_path, path, run_path, check=True, diff=True)
        assert completed.returncode == 0, completed.stdout
        assert results['updated']['changed'] and results['updated']['diff']
        outputs[run_path] = (comparable(results), completed.stdout[completed.stdout.index('TASK'):completed.stdout.index('PLAY RECAP')])
    assert outputs['in-process'] == outputs['module']
    assert '+region: us-east-1' in outputs['module'][1]
    assert commit_count(repo) == commits


@pytest.mark.parametrize('run_path', PATHS)
def test_a_password_never_shows_in_the_most_verbose_output(tmp_path, repo, run_path):
    path = write_play(tmp_path, repo, '''    - lockpool.git.pool_lock:
        repo: "{{ lock.repo }}"
        cache_dir: "{{ lock.cache_dir }}"
        pool: aws
        name: env-1
        password: "{{ secret }}"
      vars:
        secret: never-shown-7
''')
    completed, _results = play(tmp_path, path, run_path, verbosity=4)
    assert completed.returncode == 0, completed.stdout
    assert 'never-shown-7' not in completed.stdout + completed.stderr
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in completed.stdout  # the invocation was shown, masked


def test_a_task_with_its_own_environment_runs_as_a_module_and_gets_it(tmp_path, repo):
    """``environment:`` reaches a new process only: the module runs as one, and reads LOCKPOOL_REPO from it."""
    path = write_play(tmp_path, repo, '''    - lockpool.git.pool_lock: {cache_dir: "{{ lock.cache_dir }}", pool: aws, name: env-2, holder: bob}
      environment:
        LOCKPOOL_REPO: "{{ lock.repo }}"
''')
    completed, _results = play(tmp_path, path, 'in-process', verbosity=3)
    assert completed.returncode == 0, completed.stdout
    assert 'AnsiballZ_pool_lock' in completed.stdout
    assert pool_state(repo, 'aws')['claimed'] == ['env-2']

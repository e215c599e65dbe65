"""`make demo`: a local lock repository with 2 environments, 3 concurrent jobs sharing them.

Makes a bare git repository under build/demo, adds a pool of two environments with
lockpool.git.pool_lock (each lock's metadata says how to reach its environment: a local connection and a
directory of its own), runs demo/playbook.yml three times at once, and prints who held what, and what each
job did on the environment it reserved.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, 'build', 'demo')
REPO = os.path.join(DEMO, 'locks.git')
PLAYBOOK = os.path.join(ROOT, 'demo', 'playbook.yml')
BIN = os.path.dirname(sys.executable)
JOBS = 3


def git(*args, cwd=None):
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_AUTHOR_NAME='demo', GIT_AUTHOR_EMAIL='demo@localhost',
               GIT_COMMITTER_NAME='demo', GIT_COMMITTER_EMAIL='demo@localhost')
    return subprocess.run(['git', *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def ansible_env():
    collections = os.path.join(ROOT, 'build', 'collections')
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
                ANSIBLE_INVENTORY_UNPARSED_WARNING='0', LOCKPOOL_CACHE_DIR=os.path.join(DEMO, 'cache'))


def ansible_command(tool, *args):
    return [os.path.join(BIN, tool), '-i', 'localhost,', '-c', 'local',
            '-e', 'ansible_python_interpreter=%s' % sys.executable, *args]


def environment(number):
    """The metadata of env-<number>: how to reach it (the playbook's second play runs on it) and what it is."""
    return {'url': 'https://env-%d.demo.example' % number, 'workdir': os.path.join(DEMO, 'env-%d' % number),
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}


def make_repository():
    shutil.rmtree(DEMO, ignore_errors=True)
    os.makedirs(DEMO)
    git('init', '-q', '--bare', '-b', 'main', REPO)
    with tempfile.TemporaryDirectory() as work:
        git('clone', '-q', REPO, work)
        git('commit', '-q', '--allow-empty', '-m', 'an empty lock repository', cwd=work)
        git('push', '-q', 'origin', 'HEAD:main', cwd=work)
    for number in (1, 2):
        args = dict(repo=REPO, pool='demo-envs', name='env-%d' % number, state='present', metadata=environment(number))
        subprocess.run(ansible_command('ansible', 'localhost', '-m', 'lockpool.git.pool_lock', '-a', json.dumps(args)),
                       env=ansible_env(), check=True, capture_output=True)
    print('Lock repository %s: pool demo-envs with env-1 and env-2\n' % REPO)


def run_jobs():
    jobs = []
    for job in range(1, JOBS + 1):
        log = open(os.path.join(DEMO, 'job-%d.log' % job), 'w')
        command = ansible_command('ansible-playbook', '-e', 'job=%d' % job, '-e', 'lock_repo=%s' % REPO, PLAYBOOK)
        jobs.append((job, subprocess.Popen(command, env=ansible_env(), stdout=log, stderr=subprocess.STDOUT), log))
    failed = False
    for job, process, log in jobs:
        process.wait()
        log.close()
        with open(log.name) as handle:
            said = [line.split('"msg": ', 1)[1].strip().strip('"') for line in handle if '"msg": "job' in line]
        print('job %d: %s' % (job, said[0] if said else 'FAILED, see %s' % log.name))
        failed = failed or process.returncode != 0
    return not failed


def print_environments():
    """What the jobs did on each environment: the lines their tasks, run on the host they reserved, wrote there."""
    print('\nOn the environments (written by a task each job ran on the host it reserved):')
    for number in (1, 2):
        path = os.path.join(environment(number)['workdir'], 'deployments.log')
        lines = ['(nothing)']
        if os.path.exists(path):
            with open(path) as handle:
                lines = handle.read().splitlines()
        for line in lines:
            print('  env-%d: %s' % (number, line))


def print_history():
    """Who held what, as lockpool.git.pool_lock_info reads it from the repository's history."""
    completed = subprocess.run(ansible_command('ansible', 'localhost', '-m', 'lockpool.git.pool_lock_info',
                                               '-a', 'repo=%s pool=demo-envs history=20' % REPO),
                               env=ansible_env(), check=True, capture_output=True, text=True)
    info = json.loads(completed.stdout.split('=>', 1)[1])
    print('\nWho held what (lockpool.git.pool_lock_info, history: 20, oldest first):')
    print('  %-20s  %-9s  %-6s  %s' % ('time', 'operation', 'lock', 'holder'))
    for event in reversed(info['events']):
        print('  %-20s  %-9s  %-6s  %s' % (event['time'], event['operation'], event['lock'], event['holder']))
    pool = info['pools']['demo-envs']
    print('\nNow: %d available, %d claimed.' % (pool['available'], pool['claimed']))


def main():
    make_repository()
    ok = run_jobs()
    print_environments()
    print_history()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

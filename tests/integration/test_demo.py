"""`make demo`, the README's first command: three jobs share two environments, each runs a task on the one it
reserved, and it says who held what."""

import os
import re
import subprocess

from support.modules import PYTHON, ROOT, module_env


def test_the_demo_runs_three_jobs_on_two_environments_and_prints_the_history():
    completed = subprocess.run([PYTHON, os.path.join(ROOT, 'demo', 'run.py')], capture_output=True, text=True,
                               env=module_env(), timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    held = re.findall(r'^job (\d): job \1 holds (env-[12]) ', completed.stdout, re.MULTILINE)
    assert sorted(job for job, _env in held) == ['1', '2', '3']
    # Each job's task ran on the host it reserved, which its lock's metadata made reachable, and wrote in its directory.
    deployed = re.findall(r'^  (env-[12]): job (\d) deployed https://\1\.demo\.example on host \1, lock token (\d+)$',
                          completed.stdout, re.MULTILINE)
    assert sorted((job, env) for env, job, _token in deployed) == sorted((job, env) for job, env in held)
    for env in ('env-1', 'env-2'):
        tokens = [int(token) for where, _job, token in deployed if where == env]
        assert tokens == list(range(1, len(tokens) + 1))
    events = re.findall(r'^  \S+Z  (claim|release)\s+(env-[12])\s+(demo-job-\d)$', completed.stdout, re.MULTILINE)
    assert len(events) == 6
    holder_of = {}
    for operation, lock, holder in events:
        if operation == 'claim':
            assert lock not in holder_of
            holder_of[lock] = holder
        else:
            assert holder_of.pop(lock) == holder
    assert 'Now: 2 available, 0 claimed.' in completed.stdout

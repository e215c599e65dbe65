"""(2) A playbook of N pool_lock tasks against the same playbook of ``ansible.builtin.command: true`` tasks.

The plays run on localhost, as users run lock tasks on the controller (where pool_lock runs in the task's worker).
Wall time and CPU time (of ansible-playbook and everything it started) per task, playbook start-up taken off (an
empty play's figures), each the median of interleaved repetitions.
"""

import os
import resource

from common import POOL, Lab, median, row, target, timed
from support.modules import run_playbook

TARGET = 1.0


def playbook(path, tasks):
    lines = ['- hosts: localhost', '  gather_facts: false', '  tasks:']
    lines += ['    - %s' % task for task in tasks] or ['    - meta: noop']
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    return path


def lock_tasks(repo, cache_dir, count):
    common = 'repo: %s, cache_dir: %s, pool: %s, name: lock-0, holder: bench' % (repo, cache_dir, POOL)
    states = ('claimed', 'released')
    return ['lockpool.git.pool_lock: {%s, state: %s}' % (common, states[index % 2]) for index in range(count)]


def play(path):
    completed = run_playbook(path)
    if completed.returncode != 0:
        raise RuntimeError('playbook %s failed: %s %s' % (path, completed.stdout[-2000:], completed.stderr[-2000:]))


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(path):
    """(wall seconds, CPU seconds) that playing ``path`` took; the CPU of ansible-playbook, its workers, modules and git."""
    before = children_cpu()
    wall = timed(play, path)
    return wall, children_cpu() - before


def run(quick):
    tasks = 2 if quick else 20
    repetitions = 1 if quick else 3
    with Lab() as lab:
        repo = lab.pool_repo('task.git', 2)
        books = dict(
            empty=playbook(os.path.join(lab.path, 'empty.yml'), []),
            command=playbook(os.path.join(lab.path, 'command.yml'), ['ansible.builtin.command: "true"'] * tasks),
            lock=playbook(os.path.join(lab.path, 'lock.yml'), lock_tasks(repo, lab.cache_dir('task'), tasks)),
        )
        play(books['lock'])  # warm: the cache exists
        times = dict((name, []) for name in books)
        cpus = dict((name, []) for name in books)
        for _repetition in range(repetitions):
            for name, path in books.items():
                wall, cpu = measured(path)
                times[name].append(wall)
                cpus[name].append(cpu)
    empty, empty_cpu = median(times['empty']), median(cpus['empty'])
    command = (median(times['command']) - empty) / tasks
    lock = (median(times['lock']) - empty) / tasks
    command_cpu = (median(cpus['command']) - empty_cpu) / tasks
    lock_cpu = (median(cpus['lock']) - empty_cpu) / tasks
    return dict(
        title='Lock task vs an Ansible task floor',
        rows=[row('pool_lock task on localhost (acquire/release alternating, %d tasks, playbook start-up taken off)' % tasks,
                  lock, 's', command, 'ansible.builtin.command: true task'),
              row('CPU per pool_lock task (all processes)', lock_cpu, 's', command_cpu, 'CPU per command: true task')],
        targets=[target('lock task <= %.1fx a trivial task' % TARGET, '%.2fx' % (lock / command), lock / command <= TARGET)])

"""Hostile input: one table of bad inputs. Each is a clear error that names the problem, pushes nothing,
shows no traceback and leaks no secret.

A row names its target (the module ``pool_lock``, the ``lookup`` or the ``role``); RUNNERS maps a target to how it
is run: the module as Ansible runs it, the lookup and the role in a real playbook. A row's ``setup`` breaks the lock
repository first, as a person or another tool could.
"""

import collections
import os

import pytest

from support.modules import run_module, run_playbook
from support.repos import commit_to, git

SECRET = 's3cr3t-token'
MARKER = '/tmp/lockpool-hostile-input-ran'

Row = collections.namedtuple('Row', 'id target args message setup')


def row(row_id, args, message, setup=None, target='pool_lock'):
    return pytest.param(Row(row_id, target, args, message, setup), id=row_id)


# -- broken repositories --------------------------------------------------------------

def lock_in_both_directories(repo):
    commit_to(repo, 'env-1 copied into claimed/ by hand', [('write', 'aws/claimed/env-1', 'copy\n')])


def pool_with_neither_half(repo):
    commit_to(repo, 'both halves removed by hand', [
        ('write', 'aws/README', 'not a pool any more\n'), ('rm', 'aws/claimed/.gitkeep'), ('rm', 'aws/unclaimed/.gitkeep'),
        ('rm', 'aws/unclaimed/env-1'), ('rm', 'aws/unclaimed/env-2')])


def lock_that_is_a_symbolic_link(repo):
    commit_to(repo, 'a link made by hand', [('symlink', 'aws/unclaimed/env-link', 'env-1')])


def pool_that_is_a_file(repo):
    commit_to(repo, 'a file named like a pool', [('write', 'gcp', 'not a directory\n')])


ROWS = [
    # path traversal and separators in pool and lock names
    row('lock-parent-traversal', {'name': '../../etc/passwd'}, "lock name '../../etc/passwd' must not contain a path separator"),
    # a claim by name looks for a lock that is there, whoever named it (Concourse takes any file name): not found
    row('lock-backslash', {'name': 'env\\1'}, "lock 'env\\1' does not exist in pool 'aws'"),
    row('lock-dot-dot', {'name': '..'}, "lock name '..' must not start with a dot"),
    row('lock-absolute', {'name': '/etc/passwd'}, "lock name '/etc/passwd' must not contain a path separator"),
    row('pool-traversal', {'pool': '../aws', 'name': 'env-1'}, "pool name '../aws' must not contain a path separator"),
    row('pool-absolute', {'pool': '/aws', 'name': 'env-1'}, "pool name '/aws' must not contain a path separator"),
    row('pool-into-claimed', {'pool': 'aws/claimed', 'name': 'env-1'}, "pool name 'aws/claimed' must not contain a path separator"),
    # names git or a shell treats specially
    row('lock-dot-git', {'name': '.git'}, "lock name '.git' must not start with a dot"),
    row('pool-dot-git', {'pool': '.git', 'name': 'config'}, "pool name '.git' must not start with a dot"),
    row('lock-gitkeep', {'name': '.gitkeep', 'state': 'absent'}, "lock name '.gitkeep' must not start with a dot"),
    row('lock-HEAD', {'name': 'HEAD'}, "lock 'HEAD' does not exist in pool 'aws'"),
    row('pool-head', {'pool': 'head', 'name': 'env-1'}, "pool name 'head' is reserved"),
    row('lock-option-injection', {'name': '--upload-pack=touch'}, "lock '--upload-pack=touch' does not exist in pool 'aws'"),
    row('pool-leading-dash', {'pool': '-rf', 'name': 'env-1'}, "pool name '-rf' must not start with a dash"),
    row('lock-NUL', {'name': 'env\x001'}, "lock name 'env\\x001' contains a NUL character"),
    row('lock-newline', {'name': 'env-1\nclaiming: env-2'}, "cannot claim lock 'env-1\\nclaiming: env-2': its name has a control character"),
    row('pool-tab', {'pool': 'aws\tgcp', 'name': 'env-1'}, "pool name 'aws\\tgcp' contains a control character"),
    row('lock-4KB', {'name': 'x' * 4096}, "lock name '%s...' is longer than 255 bytes" % ('x' * 60)),
    row('pool-4KB', {'pool': 'p' * 4096, 'name': 'env-1'}, "pool name '%s...' is longer than 255 bytes" % ('p' * 60)),
    row('lock-trailing-space', {'name': 'env-1 '}, "lock 'env-1 ' does not exist in pool 'aws'"),
    # metadata
    row('metadata-binary', {'name': 'env-9', 'state': 'present', 'metadata': '\x89PNG\r\n\x1a\n\x00\x00'},
        'metadata must be text: it contains a NUL byte'),
    row('metadata-10MB', {'name': 'env-9', 'state': 'present', 'metadata': 'x' * (10 * 1024 * 1024)},
        'metadata is 10485760 bytes, more than the limit of 1048576 bytes'),
    row('metadata-number', {'name': 'env-9', 'state': 'present', 'metadata': 42},
        'metadata must be a string, a mapping or a list, got int'),
    # holder and team end up in commit messages
    row('holder-forged-trailer', {'holder': 'eve\nLock-Holder: alice'}, 'holder must be 1 to 256 characters without control characters'),
    row('holder-angle-brackets', {'holder': 'eve <root@localhost>'}, 'holder must be 1 to 256 characters without control characters or <>'),
    row('team-4KB', {'team': 't' * 4096}, 'team must be 1 to 256 characters'),
    # broken repositories
    row('lock-in-claimed-and-unclaimed', {'name': 'env-1'},
        "lock 'env-1' is in both aws/claimed/ and aws/unclaimed/; remove one of them by hand", lock_in_both_directories),
    row('lock-in-both-released', {'name': 'env-1', 'state': 'released'},
        "lock 'env-1' is in both aws/claimed/ and aws/unclaimed/", lock_in_both_directories),
    row('pool-with-neither-half', {'name': 'env-1'}, "'aws' is not a lock pool: it has neither aws/claimed/ nor aws/unclaimed/",
        pool_with_neither_half),
    row('lock-is-a-symbolic-link', {'name': 'env-link'},
        "'env-link' in aws/unclaimed/ is a symbolic link, not a lock", lock_that_is_a_symbolic_link),
    row('pool-is-a-file', {'pool': 'gcp', 'name': 'env-1'}, "'gcp' in the repository is a file, not a pool directory",
        pool_that_is_a_file),
    row('present-into-broken-pool', {'name': 'env-9', 'state': 'present'},
        "'aws' is not a lock pool: it has neither aws/claimed/ nor aws/unclaimed/", pool_with_neither_half),
    # branches and repositories
    row('branch-missing', {'branch': 'does-not-exist'}, "branch 'does-not-exist' does not exist in lock repository"),
    row('branch-option-injection', {'branch': '--upload-pack=touch'}, "branch '--upload-pack=touch' is not a valid git branch name"),
    row('branch-traversal', {'branch': '../../HEAD'}, "branch '../../HEAD' is not a valid git branch name"),
    row('branch-newline', {'branch': 'main\nfoo'}, "is not a valid git branch name"),
    row('repo-option-injection', {'repo': '--upload-pack=touch %s' % MARKER},
        "cannot fetch lock repository --upload-pack=touch %s: fatal: strange pathname" % MARKER),
    row('repo-ext-transport', {'repo': 'ext::sh -c touch% ' + MARKER}, "transport 'ext' not allowed"),
    row('repo-with-token-unreachable', {'repo': 'https://robot:%s@127.0.0.1:9/locks.git' % SECRET},
        'cannot fetch lock repository https://***@127.0.0.1:9/locks.git'),
    # option types
    row('state-unknown', {'state': 'stolen'}, 'value of state must be one of: claimed, released, present, absent, moved, got: stolen'),
    row('wait-not-a-bool', {'wait': 'perhaps'}, "argument 'wait' is of type str and we were unable to convert to bool"),
    row('force-a-list', {'name': 'env-1', 'state': 'absent', 'force': ['yes']},
        "argument 'force' is of type list and we were unable to convert to bool"),
    row('timeout-negative', {'timeout': -5}, "timeout must not be negative, got -5"),
    row('timeout-a-mapping', {'timeout': {'minutes': 5}}, 'timeout must be a duration such as 10s, 90m or 1h'),
    row('retry-delay-not-a-duration', {'retry_delay': '10 parsecs'}, 'retry_delay must be a duration such as 10s, 90m or 1h'),
    row('unknown-option', {'name': 'env-1', 'lock_all': True}, 'Unsupported parameters for (basic.py) module: lock_all.'),
    # the lookup: the same engine, its errors named after the lock and the pool
    row('lookup-term-traversal', {'term': '../x'}, "cannot read lock 'x' of pool '..': pool name '..' must not start with a dot",
        target='lookup'),
    row('lookup-hidden-lock', {'term': 'aws/.hidden'}, "cannot read lock '.hidden' of pool 'aws': lock name '.hidden' must not start",
        target='lookup'),
    row('lookup-pool-dot-git', {'pool': '.git'}, "pool name '.git' must not start with a dot", target='lookup'),
    row('lookup-missing-lock', {'term': 'env-9'}, "cannot read lock 'env-9' of pool 'aws': lock 'env-9' does not exist in pool 'aws'",
        target='lookup'),
    row('lookup-missing-pool', {'pool': 'gcp'}, "cannot read lock 'env-1' of pool 'gcp': pool 'gcp' does not exist", target='lookup'),
    row('lookup-term-with-two-slashes', {'term': 'a/b/c'},
        "cannot read lock 'b/c' of pool 'a': lock name 'b/c' must not contain a path separator", target='lookup'),
    row('lookup-branch-missing', {'branch': 'nope'}, "branch 'nope' does not exist in lock repository", target='lookup'),
    row('lookup-repo-option-injection', {'repo': '--upload-pack=touch %s' % MARKER}, "strange pathname '--upload-pack=touch",
        target='lookup'),
    # the role: its variables reach the module, or fail Ansible's validation of its argument_specs
    row('role-pool-traversal', {'with_lock_pool': '../aws'}, "pool name '../aws' must not contain a path separator", target='role'),
    row('role-name-separator', {'with_lock_name': 'a/b'}, "lock name 'a/b' must not contain a path separator", target='role'),
    row('role-missing-pool', {'with_lock_pool': 'gcp'}, "pool 'gcp' does not exist", target='role'),
    row('role-missing-lock', {'with_lock_name': 'env-9'}, "lock 'env-9' does not exist in pool 'aws'", target='role'),
    row('role-forged-holder', {'with_lock_holder': 'eve\nLock-Holder: alice'},
        'holder must be 1 to 256 characters without control characters', target='role'),
    row('role-timeout-not-a-number', {'with_lock_timeout': 'soon'},
        "argument 'with_lock_timeout' is of type str and we were unable to convert to int", target='role'),
]


def run_pool_lock(repo, cache_dir, args):
    """Returns (failed, message, everything the run printed)."""
    module_args = dict({'repo': repo, 'cache_dir': cache_dir, 'pool': 'aws', 'holder': 'mallory'}, **args)
    result = run_module('pool_lock', module_args)
    return bool(result.get('failed')), result.get('msg', ''), repr(result)


def run_lookup(repo, cache_dir, args):
    """The lookup in a real playbook; ``term`` in ``args`` is the lookup's term, the rest its options."""
    options = dict({'repo': repo, 'cache_dir': cache_dir, 'pool': 'aws'}, **args)
    term = options.pop('term', 'env-1')
    playbook = _write(cache_dir, 'lookup.yml', (
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - ansible.builtin.debug:\n        msg: "{{ lookup(\'lockpool.git.pool_lock\', term, **options) }}"\n'))
    return _played(run_playbook(playbook, extra_vars={'term': term, 'options': options}))


def run_role(repo, cache_dir, args):
    """The role with_lock in a real playbook, its variables from ``args``; the wrapped tasks must never run."""
    tasks = _write(cache_dir, 'never-run.yml', '- ansible.builtin.fail:\n    msg: the wrapped tasks ran\n')
    variables = dict({'with_lock_repo': repo, 'with_lock_cache_dir': cache_dir, 'with_lock_pool': 'aws',
                      'with_lock_tasks': tasks}, **args)
    playbook = _write(cache_dir, 'role.yml', (
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - ansible.builtin.include_role:\n        name: lockpool.git.with_lock\n'))
    failed, message, output = _played(run_playbook(playbook, extra_vars=variables))
    return failed and 'the wrapped tasks ran' not in output, message, output


def _write(cache_dir, name, text):
    path = os.path.join(os.path.dirname(cache_dir), name)
    with open(path, 'w') as handle:
        handle.write(text)
    return path


def _played(completed):
    output = completed.stdout + completed.stderr
    return completed.returncode != 0, output, output


RUNNERS = {'pool_lock': run_pool_lock, 'lookup': run_lookup, 'role': run_role}


def refs(repo):
    return git('for-each-ref', '--format=%(refname) %(objectname)', cwd=repo)


@pytest.mark.parametrize('case', ROWS)
def test_hostile_input_is_refused_clearly_and_changes_nothing(aws_repo, cache_dir, case):
    if case.setup:
        case.setup(aws_repo)
    before = refs(aws_repo)

    failed, message, output = RUNNERS[case.target](aws_repo, cache_dir, case.args)

    assert failed
    assert case.message in message
    assert 'Traceback' not in output
    assert SECRET not in output
    assert refs(aws_repo) == before
    assert not os.path.exists(MARKER)


def test_the_table_covers_at_least_thirty_bad_inputs():
    assert len(ROWS) >= 30

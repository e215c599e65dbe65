"""docs/reading-pools.md's examples run as written."""

import os
import re

import pytest

from support.modules import ROOT, run_playbook
from support.repos import commit_to, make_lock_repo

EXAMPLE = re.compile(r'^```\w+ (?P<name>\S+)\n(?P<text>.*?)^```', re.MULTILINE | re.DOTALL)


def examples(page):
    """{file name: text} of the fenced blocks of a docs page whose info string names a file."""
    with open(os.path.join(ROOT, 'docs', page)) as handle:
        return dict((match.group('name'), match.group('text')) for match in EXAMPLE.finditer(handle.read()))


@pytest.fixture
def docs_repo(tmp_path):
    repo = make_lock_repo(tmp_path / 'docs.git', {
        'aws': {'env-1': 'region: eu-west-1\nurl: https://env-1.example.com\n', 'env-2': 'region: us-east-1\n'},
        'gcp': {'g-1': ''},
    })
    commit_to(repo, 'main/deploy/deploy-aws build 42 claiming: env-1', [('mv', 'aws/unclaimed/env-1', 'aws/claimed/env-1')])
    return repo


def write_examples(tmp_path, page):
    for name, text in examples(page).items():
        (tmp_path / name).write_text(text)


def test_the_pool_table_playbook_prints_every_pool_lock_holder_and_age(docs_repo, tmp_path):
    write_examples(tmp_path, 'reading-pools.md')
    completed = run_playbook(tmp_path / 'pool-table.yml', {'lock_repo': docs_repo},
                             env={'LOCKPOOL_CACHE_DIR': str(tmp_path / 'cache')})
    assert completed.returncode == 0, completed.stdout
    rows = re.findall(r'"msg": "(.*)"', completed.stdout)
    assert rows[0].split() == ['POOL', 'LOCK', 'STATE', 'HOLDER', 'AGE', '(s)']
    assert [row.split()[:3] for row in rows[1:]] == [['aws', 'env-1', 'claimed'], ['aws', 'env-2', 'unclaimed'],
                                                     ['gcp', 'g-1', 'unclaimed']]
    assert re.match(r'aws +env-1 +claimed +main/deploy/deploy-aws build 42 +\d+$', rows[1])
    assert rows[2].split()[3:] == ['-', '-']


def test_the_template_renders_a_locks_metadata_through_the_lookup(docs_repo, tmp_path):
    write_examples(tmp_path, 'reading-pools.md')
    completed = run_playbook(tmp_path / 'render-env.yml', {'lock_repo': docs_repo, 'lock_name': 'env-1',
                                                           'output_dir': str(tmp_path)},
                             env={'LOCKPOOL_CACHE_DIR': str(tmp_path / 'cache')})
    assert completed.returncode == 0, completed.stdout
    assert (tmp_path / 'env.conf').read_text() == (
        '# env-1, from the aws pool of the lock repository\n'
        'region = eu-west-1\n'
        'url = https://env-1.example.com\n')

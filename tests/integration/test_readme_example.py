"""The playbook README.md shows first, run as a user would copy it, against a real repository in place of GitHub's."""

import os
import re

import yaml

from support.modules import run_playbook
from support.repos import make_lock_repo, pool_state

README = os.path.join(os.path.dirname(__file__), '..', '..', 'README.md')


def readme_playbook():
    with open(README) as handle:
        return yaml.safe_load(re.search(r'```yaml\n(.*?)```', handle.read(), re.S).group(1))


def test_the_readme_playbook_reserves_works_on_and_gives_back_an_environment(tmp_path):
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'url: https://env-1.example.com\n'}})
    play = readme_playbook()
    play[0]['module_defaults']['group/lockpool.git.pool'].update(repo=repo, cache_dir=str(tmp_path / 'cache'))
    # the same defaults serve the other modules of the group: a reader added to the play takes them too
    play[0]['tasks'].append({'name': 'Read the pool', 'lockpool.git.pool_lock_info': {'pool': 'aws'}, 'register': 'read'})
    playbook = tmp_path / 'readme.yml'
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    assert 'deploying to env-1 (https://env-1.example.com)' in completed.stdout
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}

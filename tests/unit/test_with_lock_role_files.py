"""The role's files agree: every variable it reads is documented, and documented defaults are the applied ones."""

import os
import re

import pytest
import yaml

from support.modules import ROOT

ROLE = os.path.join(ROOT, 'roles', 'with_lock')
# A variable, not a module's name (lockpool.git.pool_lock_info) nor an internal variable (__with_lock_...).
ROLE_VARIABLE = re.compile(r'(?<![\w.])(with_lock_[a-z_]+)')
# What the role sets for the caller's tasks, not a variable it reads.
FACTS = {'with_lock_held', 'with_lock_resetting'}


def load(*path):
    with open(os.path.join(ROLE, *path)) as handle:
        return yaml.safe_load(handle)


def role_text():
    texts = []
    for folder in ('tasks', 'vars', 'defaults'):
        for name in sorted(os.listdir(os.path.join(ROLE, folder))):
            with open(os.path.join(ROLE, folder, name)) as handle:
                texts.append(handle.read())
    return '\n'.join(texts)


def role_variables():
    """Every with_lock_ variable the role reads: named in its files, or as with_lock_<option> for a shared option."""
    role_vars = load('vars', 'main.yml')
    shared = role_vars['__with_lock_connection_options'] + role_vars['__with_lock_task_options']
    return (set(ROLE_VARIABLE.findall(role_text())) - FACTS) | {'with_lock_' + option for option in shared}


SPECS = load('meta', 'argument_specs.yml')['argument_specs']


def test_every_variable_the_role_reads_is_documented_for_the_main_entry_point():
    assert role_variables() - set(SPECS['main']['options']) == set()


@pytest.mark.parametrize('entry_point', ['main', 'acquire', 'release'])
def test_every_documented_variable_is_used(entry_point):
    assert set(SPECS[entry_point]['options']) - role_variables() == set()


@pytest.mark.parametrize('entry_point', ['main', 'acquire', 'release'])
def test_documented_defaults_are_the_defaults_applied(entry_point):
    defaults = load('defaults', 'main.yml')
    for name, spec in SPECS[entry_point]['options'].items():
        if 'default' in spec:
            assert defaults[name] == spec['default'], name
        else:
            assert name not in defaults, name


def test_release_needs_no_pool_and_no_tasks():
    required = [name for name, spec in SPECS['release']['options'].items() if spec.get('required')]
    assert required == []


def test_secrets_are_not_logged_by_the_validation():
    for name in ('with_lock_private_key', 'with_lock_private_key_passphrase', 'with_lock_password'):
        assert SPECS['main']['options'][name]['no_log'] is True

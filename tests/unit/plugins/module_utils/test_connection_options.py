"""The connection options are declared once, in CONNECTION_ARGUMENT_SPEC; every other place that names them agrees.

Ansible needs static documentation, so the doc fragment and the role's argument specs write each option out again:
these tests hold them to the argument spec, option by option, in both directions (none missing, none extra).
That the role's argument specs document no variable the role does not read is tests/unit/test_with_lock_role_files.py's.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.lockpool.git.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC, environment_fallback

from support.modules import ROOT

ROLE = os.path.join(ROOT, 'roles', 'with_lock')
OPTIONS = sorted(CONNECTION_ARGUMENT_SPEC)
DOCUMENTED = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
# The role's options that are not connection options, but which every lock task of the role is given too.
ROLE_TASK_OPTIONS = ['team', 'retry_delay']


def env_variables(name):
    """The environment variables option ``name`` falls back to, as its argument spec says (read, not recomputed)."""
    fallback = CONNECTION_ARGUMENT_SPEC[name].get('fallback')
    assert fallback and fallback[0] is environment_fallback, '%s falls back to no environment variable' % name
    return fallback[1]


def text(description):
    return ' '.join(description) if isinstance(description, list) else description


def role_file(*path):
    with open(os.path.join(ROLE, *path)) as handle:
        return yaml.safe_load(handle)


ROLE_ENTRY_POINTS = role_file('meta', 'argument_specs.yml')['argument_specs']

# Renders the role's __with_lock_options as Ansible does, once for each set of variables given (a JSON list).
RENDER_ROLE_OPTIONS = r'''
import json
import sys

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar

init_plugin_loader()
loader = DataLoader()
role_vars = loader.load_from_file(sys.argv[1], trusted_as_template=True)
print(json.dumps([Templar(loader=loader, variables=dict(role_vars, **given)).template(role_vars['__with_lock_options'])
                  for given in json.loads(sys.argv[2])]))
'''


def role_options(*variable_sets):
    """What the role's lock tasks get as module defaults, for each set of the caller's variables."""
    completed = subprocess.run([sys.executable, '-c', RENDER_ROLE_OPTIONS, os.path.join(ROLE, 'vars', 'main.yml'),
                                json.dumps(variable_sets)], capture_output=True, text=True, check=False)
    if "No module named 'ansible." in completed.stderr:
        # ansible-test units gives module_utils tests ansible-core's module side only; make test has the controller.
        pytest.skip('rendering the role needs ansible-core\'s controller code (DataLoader, Templar)')
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# -- the doc fragment ----------------------------------------------------------------------------

def test_the_fragment_documents_exactly_the_options_of_the_argument_spec():
    assert sorted(DOCUMENTED) == OPTIONS


@pytest.mark.parametrize('name', OPTIONS)
def test_the_fragment_documents_each_option_as_the_argument_spec_declares_it(name):
    spec, documented = CONNECTION_ARGUMENT_SPEC[name], DOCUMENTED.get(name)
    assert documented is not None, '%s is not documented' % name
    assert documented.get('type') == spec['type']
    assert documented.get('default') == spec.get('default')
    assert ('default' in documented) == ('default' in spec)
    assert bool(documented.get('required')) == bool(spec.get('required'))
    assert documented.get('aliases', []) == spec.get('aliases', [])


@pytest.mark.parametrize('name', OPTIONS)
def test_the_fragment_names_each_options_environment_variable(name):
    description = text(DOCUMENTED.get(name, {}).get('description', ''))
    for variable in env_variables(name):
        assert 'E(%s)' % variable in description


# -- the role with_lock ----------------------------------------------------------------------------

def test_the_role_lists_exactly_the_connection_options_of_the_argument_spec():
    assert sorted(role_file('vars', 'main.yml')['__with_lock_connection_options']) == OPTIONS


def test_the_role_hands_every_connection_option_to_its_lock_tasks_and_nothing_else():
    shared = OPTIONS + ROLE_TASK_OPTIONS
    every_one_set = {'with_lock_' + name: 'value of with_lock_' + name for name in shared}
    every_one_set['with_lock_pool'] = 'not shared'
    set_to_values, none_set = role_options(every_one_set, {})
    assert set_to_values == {name: 'value of with_lock_' + name for name in shared}
    assert none_set == {}


def test_the_role_keeps_the_type_of_what_the_caller_gives():
    given = {'with_lock_git_config': {'http.sslCAInfo': '/ca.pem', 'http.lowSpeedTime': 60}, 'with_lock_ssl_verify': False}
    assert role_options(given) == [{'git_config': {'http.sslCAInfo': '/ca.pem', 'http.lowSpeedTime': 60}, 'ssl_verify': False}]


@pytest.mark.parametrize('entry_point', sorted(ROLE_ENTRY_POINTS))
@pytest.mark.parametrize('name', OPTIONS)
def test_every_entry_point_of_the_role_documents_each_connection_option(entry_point, name):
    # Every entry point runs lock tasks, so every one takes every connection option.
    spec, documented = CONNECTION_ARGUMENT_SPEC[name], ROLE_ENTRY_POINTS[entry_point]['options'].get('with_lock_' + name)
    assert documented is not None, 'with_lock_%s is not documented for the %s entry point' % (name, entry_point)
    assert documented['type'] == spec['type']
    assert bool(documented.get('no_log')) == bool(spec.get('no_log'))
    # A default of the role's would hide the LOCKPOOL_* variable the module falls back to when the option is unset.
    assert 'default' not in documented and not documented.get('required')
    for variable in env_variables(name):
        assert 'E(%s)' % variable in text(documented['description'])

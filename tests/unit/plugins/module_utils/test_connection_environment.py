"""The LOCKPOOL_* variables, read in one place for modules (the argument spec's fallback) and lookups
(connection_options): a variable set to the empty string counts as not set."""

import pytest

from ansible.module_utils.basic import AnsibleFallbackNotFound

from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC, connection_options, environment_fallback
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

VARIABLES = sorted('LOCKPOOL_' + name.upper() for name in CONNECTION_ARGUMENT_SPEC)
DEFAULTS = {'repo': '/srv/locks.git', 'uri': '/srv/locks.git', 'branch': 'main', 'cache_dir': None, 'private_key': None,
            'private_key_file': None, 'private_key_passphrase': None, 'username': None, 'password': None,
            'known_hosts': None, 'accept_new_host_keys': False, 'git_config': None, 'ssl_verify': True}


@pytest.fixture
def environment(monkeypatch):
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_fallback_returns_a_variable_that_is_set(environment):
    environment.setenv('LOCKPOOL_BRANCH', 'locks')
    assert environment_fallback('LOCKPOOL_BRANCH') == 'locks'


def test_the_fallback_finds_nothing_in_an_empty_variable(environment):
    environment.setenv('LOCKPOOL_BRANCH', '')
    with pytest.raises(AnsibleFallbackNotFound):
        environment_fallback('LOCKPOOL_BRANCH')


def test_a_lookup_with_every_variable_empty_gets_every_default(environment):
    for variable in VARIABLES:
        environment.setenv(variable, '')
    assert connection_options({'uri': '/srv/locks.git'}) == DEFAULTS


def test_an_empty_lockpool_ssl_verify_keeps_tls_verification_on(environment):
    # Ansible's own reading of a lookup's env entries takes '' for false.
    environment.setenv('LOCKPOOL_SSL_VERIFY', '')
    assert connection_options({'repo': '/srv/locks.git'})['ssl_verify'] is True


def test_a_lookup_reads_lockpool_git_config_as_json_or_key_value_pairs(environment):
    environment.setenv('LOCKPOOL_GIT_CONFIG', '{"http.proxy": "http://proxy:3128"}')
    assert connection_options({'repo': '/srv/locks.git'})['git_config'] == {'http.proxy': 'http://proxy:3128'}
    environment.setenv('LOCKPOOL_GIT_CONFIG', 'http.proxy=http://proxy:3128')
    assert connection_options({'repo': '/srv/locks.git'})['git_config'] == {'http.proxy': 'http://proxy:3128'}


def test_an_option_given_wins_over_its_variable(environment):
    environment.setenv('LOCKPOOL_BRANCH', 'from-the-environment')
    assert connection_options({'repo': '/srv/locks.git', 'branch': 'given'})['branch'] == 'given'


def test_options_that_are_not_connection_options_are_left_out(environment):
    assert 'pool' not in connection_options({'repo': '/srv/locks.git', 'pool': 'aws'})


def test_a_value_of_the_wrong_type_names_the_option(environment):
    environment.setenv('LOCKPOOL_ACCEPT_NEW_HOST_KEYS', 'perhaps')
    with pytest.raises(InvalidInputError, match="argument 'accept_new_host_keys' is of type str"):
        connection_options({'repo': '/srv/locks.git'})

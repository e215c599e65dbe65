# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the lock repository is and how to reach it.

The connection options are declared here once for every plugin (their
documentation lives in the ``lockpool.git.connection`` doc fragment), and turned
into a Remote: the URL, the branch, the environment git runs with and the list
of secrets that must be scrubbed from anything we show. Credentials written into
an http(s) URL are taken out of it and handed to git as the ``username`` and
``password`` options are: never on a command line, where any local user can read them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from urllib.parse import unquote

from ansible.module_utils.basic import AnsibleFallbackNotFound
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lockpool.git.plugins.module_utils._credentials import Credentials
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError


def environment_fallback(*variables):
    """The value of the first of ``variables`` that is set and not empty (an argument spec's ``fallback``).

    Ansible's env_fallback takes an empty variable as a value; AWX injects one for every credential field left
    blank, which must count as not given: the option's default, not ``branch ''`` or an ``ssl_verify`` that is
    no boolean.
    """
    for variable in variables:
        if os.environ.get(variable):
            return os.environ[variable]
    raise AnsibleFallbackNotFound


def _option(name, **spec):
    """An option that falls back to the ``LOCKPOOL_<NAME>`` environment variable (how AWX credentials inject it)."""
    spec['fallback'] = (environment_fallback, ['LOCKPOOL_' + name.upper()])
    return name, spec


CREDENTIAL_ARGUMENT_SPEC = dict([
    _option('private_key', type='str', no_log=True),
    _option('private_key_file', type='path'),
    _option('private_key_passphrase', type='str', no_log=True),
    _option('username', type='str'),
    _option('password', type='str', no_log=True),
    _option('known_hosts', type='str'),
    _option('accept_new_host_keys', type='bool', default=False),
    _option('git_config', type='dict'),
    _option('ssl_verify', type='bool', default=True),
])

CONNECTION_ARGUMENT_SPEC = dict([
    _option('repo', type='str', required=True, aliases=['uri']),
    _option('branch', type='str', default='main'),
    _option('cache_dir', type='path'),
], **CREDENTIAL_ARGUMENT_SPEC)

_CONNECTION_OPTION_NAMES = frozenset(list(CONNECTION_ARGUMENT_SPEC)
                                     + [alias for spec in CONNECTION_ARGUMENT_SPEC.values() for alias in spec.get('aliases', [])])

_URL_USERINFO = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@')
_HTTP_SCHEMES = ('http://', 'https://')
_BRANCH_FORBIDDEN = re.compile(r'[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.lock$|^-|\.$')

# git must never stop to ask a person for anything, nor read the user's own settings.
_GIT_BASE_ENV = {
    'GIT_TERMINAL_PROMPT': '0',
    'GIT_ASKPASS': 'true',
    'SSH_ASKPASS': 'true',
    'GIT_CONFIG_NOSYSTEM': '1',
    'GIT_CONFIG_GLOBAL': os.devnull,
    'LC_ALL': 'C',
    'LANGUAGE': 'C',
}


def scrub_url(url):
    """``url`` with any user name, password or token removed."""
    return _URL_USERINFO.sub(lambda m: m.group('scheme') + '***@', url)


def url_secrets(url):
    """The secrets written into ``url``, for Ansible to mask in its output.

    The password of ``scheme://user:password@host``, or the token of an http(s) ``token@host``; each as written
    and percent-decoded, as git reads it.
    """
    secrets = []
    for match in _URL_USERINFO.finditer(url or ''):
        user, colon, password = match.group('userinfo').partition(':')
        if colon and password:
            secrets += [password, unquote(password)]
        elif not colon and user and _is_http(match):
            secrets += [user, unquote(user)]
    return list(dict.fromkeys(secrets))


def split_url_credentials(url):
    """``(url, username, password)``: an http(s) ``url`` without its user name and password, and those decoded.

    git decodes ``%40`` and the like in them too. The user name or the password is None when the URL has none.
    Other URLs are returned whole: an ssh URL's user is no secret, and ssh needs it.
    """
    match = _URL_USERINFO.match(url)
    if not match or not _is_http(match):
        return url, None, None
    user, _colon, password = match.group('userinfo').partition(':')
    return match.group('scheme') + url[match.end():], unquote(user) or None, unquote(password) or None


def _is_http(match):
    return match.group('scheme').lower() in _HTTP_SCHEMES


def _given_once(what, option, in_url, from_option):
    """The user name or password from the URL or from its option; both only if they agree, as neither should win silently."""
    if in_url and from_option and in_url != from_option:
        raise InvalidInputError('the %s in repo differs from the %s option: give it once, in repo or as %s'
                                % (what, option, option))
    return in_url or from_option


def default_cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'lockpool')


class Remote(object):
    """The lock repository's branch, and what git needs to reach it."""

    def __init__(self, url, branch='main', cache_dir=None, **credential_options):
        if not url:
            raise InvalidInputError('repo must name the lock repository (a URL or a path)')
        if not branch or _BRANCH_FORBIDDEN.search(branch):
            raise InvalidInputError('branch %r is not a valid git branch name' % (branch,))
        self.url, username, password = split_url_credentials(url)
        credential_options['username'] = _given_once('user name', 'username', username, credential_options.get('username'))
        credential_options['password'] = _given_once('password', 'password', password, credential_options.get('password'))
        self.branch = branch
        self.cache_dir = cache_dir or default_cache_dir()
        self.display_url = scrub_url(url)
        self._credentials = Credentials(**credential_options)
        self._secrets = self._credentials.secrets + url_secrets(url)
        self.env = dict(_GIT_BASE_ENV)
        self.env.update(self._credentials.env)

    def scrub(self, text):
        """``text`` with URLs' credentials and every known secret replaced by ``***``."""
        text = scrub_url(text)
        for secret in self._secrets:
            text = text.replace(secret, '***')
        return text

    def close(self):
        """Remove anything written for this connection (key files, ...)."""
        self._credentials.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def connection_options(given):
    """The connection options of ``given`` (a plugin's options by name or alias; others are ignored), completed as
    AnsibleModule completes a module's: the LOCKPOOL_* variables (environment_fallback), the defaults, the types.

    Lookups read them so, not through ``env:`` entries, which Ansible reads by rules of its own: an empty
    LOCKPOOL_SSL_VERIFY would turn TLS verification off, an empty path would be the current directory, and
    LOCKPOOL_GIT_CONFIG's JSON or ``key=value`` pairs would be refused.
    """
    result = ArgumentSpecValidator(CONNECTION_ARGUMENT_SPEC).validate(
        dict((name, value) for name, value in given.items() if name in _CONNECTION_OPTION_NAMES))
    if result.error_messages:
        # The messages name options and types, never a value of a no_log option (strings need no conversion).
        raise InvalidInputError('; '.join(result.error_messages))
    return result.validated_parameters


def remote_from_options(options):
    """Build a Remote from an option adapter (see _options.OptionAdapter)."""
    credential_options = {}
    for name in CREDENTIAL_ARGUMENT_SPEC:
        value = options.get_option_default(name)
        if value is not None:
            credential_options[name] = value
    return Remote(
        url=options.get_option('repo'),
        branch=options.get_option_default('branch', 'main'),
        cache_dir=options.get_option_default('cache_dir'),
        **credential_options
    )

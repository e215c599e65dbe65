# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the lock repository is and how to reach it.

The connection options are declared here once for every plugin (their
documentation lives in the ``lockpool.git.connection`` doc fragment), and turned
into a Remote: the URL, the branch, the environment git runs with and the list
of secrets that must be scrubbed from anything we show.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import env_fallback

from ansible_collections.lockpool.git.plugins.module_utils._credentials import Credentials
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError


def _option(name, **spec):
    """An option that falls back to the ``LOCKPOOL_<NAME>`` environment variable (how AWX credentials inject it)."""
    spec['fallback'] = (env_fallback, ['LOCKPOOL_' + name.upper()])
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

_URL_USERINFO = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@')
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

    The password of ``scheme://user:password@host``, or the token of an http(s) ``token@host``.
    """
    secrets = []
    for match in _URL_USERINFO.finditer(url or ''):
        user, colon, password = match.group('userinfo').partition(':')
        if colon and password:
            secrets.append(password)
        elif not colon and user and match.group('scheme').lower() in ('http://', 'https://'):
            secrets.append(user)
    return secrets


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
        self.url = url
        self.branch = branch
        self.cache_dir = cache_dir or default_cache_dir()
        self.display_url = scrub_url(url)
        self._credentials = Credentials(**credential_options)
        self.env = dict(_GIT_BASE_ENV)
        self.env.update(self._credentials.env)

    def scrub(self, text):
        """``text`` with URLs' credentials and every known secret replaced by ``***``."""
        text = scrub_url(text)
        for secret in self._credentials.secrets:
            text = text.replace(secret, '***')
        return text

    def close(self):
        """Remove anything written for this connection (key files, ...)."""
        self._credentials.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


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

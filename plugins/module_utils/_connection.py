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

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

CONNECTION_ARGUMENT_SPEC = dict(
    repo=dict(type='str', required=True, aliases=['uri'], fallback=(env_fallback, ['LOCKPOOL_REPO'])),
    branch=dict(type='str', default='main', fallback=(env_fallback, ['LOCKPOOL_BRANCH'])),
    cache_dir=dict(type='path', fallback=(env_fallback, ['LOCKPOOL_CACHE_DIR'])),
)

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


def url_secret(url):
    """The secret in ``url``'s user info: the password of ``user:password@``, or an http(s) ``token@``; else None."""
    match = _URL_USERINFO.search(url or '')
    if not match or not match.group('userinfo'):
        return None
    user, colon, password = match.group('userinfo').partition(':')
    if colon:
        return password or None
    return user if match.group('scheme').lower() in ('http://', 'https://') else None


def default_cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'lockpool')


class Remote(object):
    """The lock repository's branch, and what git needs to reach it."""

    def __init__(self, url, branch='main', cache_dir=None, secrets=(), env=None):
        if not url:
            raise InvalidInputError('repo must name the lock repository (a URL or a path)')
        if not branch or _BRANCH_FORBIDDEN.search(branch):
            raise InvalidInputError('branch %r is not a valid git branch name' % (branch,))
        self.url = url
        self.branch = branch
        self.cache_dir = cache_dir or default_cache_dir()
        self.display_url = scrub_url(url)
        self._secrets = [secret for secret in secrets if secret]
        self.env = dict(_GIT_BASE_ENV)
        self.env.update(env or {})

    def scrub(self, text):
        """``text`` with URLs' credentials and every known secret replaced by ``***``."""
        text = scrub_url(text)
        for secret in self._secrets:
            text = text.replace(secret, '***')
        return text

    def close(self):
        """Remove anything written for this connection (key files, ...)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def remote_from_options(options):
    """Build a Remote from an option adapter (see _options.OptionAdapter)."""
    return Remote(
        url=options.get_option('repo'),
        branch=options.get_option_default('branch', 'main'),
        cache_dir=options.get_option_default('cache_dir'),
    )

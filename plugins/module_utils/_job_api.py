# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP API of a job system (AWX, Concourse), as smart reaping asks it: GET of JSON with a bearer token.

Ansible's ``open_url`` does the request (no other dependency), imported only when a system is asked. A redirect
is never followed (the token would go along to wherever it points), nor ``~/.netrc`` read. Every failure is a
JobSystemError whose message names the system and what went wrong, never the token: the token is only ever in a
request header, and every message is scrubbed of it besides.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from urllib.parse import urlsplit

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, JobSystemError

TIMEOUT = 10  # seconds for one request


def open_url_transport(url, headers, validate_certs, timeout):
    """(HTTP status, body bytes) of ``GET url``; a status other than 2xx is returned too. Raises JobSystemError
    when there is no answer (unreachable, TLS, timeout)."""
    from urllib.error import HTTPError

    from ansible.module_utils.urls import open_url

    try:
        response = open_url(url, headers=headers, method='GET', validate_certs=validate_certs, timeout=timeout,
                            follow_redirects='none', use_netrc=False, http_agent='lockpool.git')
        try:
            return response.getcode(), response.read()
        finally:
            response.close()
    except HTTPError as exc:
        return exc.code, b''
    except Exception as exc:  # unreachable, refused, TLS, timeout: whatever the layers below raise, there is no answer
        reason = getattr(exc, 'reason', None) or exc
        raise JobSystemError('no answer: %s' % (reason,))


def api_url(value, option):
    """The base URL of an API given as ``option``: http(s), a host, no credentials, no query; without a trailing slash."""
    parts = urlsplit(value or '')
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise InvalidInputError('%s must be an http:// or https:// URL, got %r' % (option, value))
    if '@' in parts.netloc:
        raise InvalidInputError('%s must not hold credentials: give the token in its own option' % option)
    if parts.query or parts.fragment:
        raise InvalidInputError('%s must be the URL of the server, without a query or fragment' % option)
    return value.rstrip('/')


def same_server(url, other):
    """Whether two URLs name the same server (host and port, the scheme's default port when none is written)."""
    def server(value):
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            return None
        return (parts.hostname or '').lower(), port or {'http': 80, 'https': 443}.get(parts.scheme)
    return server(url) is not None and server(url) == server(other)


class JsonApi(object):
    """One system's API at ``url``: ``get(path)`` returns the JSON it answers with.

    ``transport(url, headers, validate_certs, timeout)`` does the request (``open_url_transport``; a test's fake).
    """

    def __init__(self, title, url, token=None, validate_certs=True, transport=None, timeout=TIMEOUT):
        self.title = title
        self.url = url
        self._token = token or None
        self.validate_certs = validate_certs
        self.transport = transport or open_url_transport
        self.timeout = timeout

    def scrub(self, text):
        """``text`` without the token (no message should hold it; this makes sure)."""
        return text.replace(self._token, '***') if self._token else text

    def get(self, path, missing=False):
        """The JSON ``GET <url><path>`` answers with; with ``missing``, None when it answers 404 (not found)."""
        headers = {'Accept': 'application/json'}
        if self._token:
            headers['Authorization'] = 'Bearer ' + self._token
        try:
            status, body = self.transport(self.url + path, headers, self.validate_certs, self.timeout)
        except JobSystemError as exc:
            raise JobSystemError(self.scrub('%s at %s gave %s' % (self.title, self.url, exc)))
        if status == 404 and missing:
            return None
        if status != 200:
            raise JobSystemError(self.scrub(self._refusal(status, path)))
        try:
            return json.loads(body.decode('utf-8'))
        except ValueError:
            raise JobSystemError('%s answered GET %s with something that is not JSON' % (self.title, path))

    def _refusal(self, status, path):
        if status == 401:
            why = 'refused the token' if self._token else 'asks for a token'
        elif status == 403:
            why = 'does not let the token read it'
        elif 300 <= status < 400:
            why = 'redirected the request elsewhere (give the URL the API answers at)'
        else:
            why = 'could not answer'
        return '%s %s: GET %s answered HTTP %d' % (self.title, why, path, status)


def job_status(title, data, running, finished):
    """(finished, status) from the ``status`` field of a job's JSON; JobSystemError when it is neither running nor finished."""
    status = data.get('status') if isinstance(data, dict) else None
    if status in finished:
        return True, status
    if status in running:
        return False, status
    raise JobSystemError('%s reported a status that is neither running nor finished: %r' % (title, status))

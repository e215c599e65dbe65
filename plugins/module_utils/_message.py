# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commit messages: the Concourse subjects we write, and every form we can read.

We write the subject exactly as the Concourse pool-resource does (``claiming: X``)
and put who did it into git trailers in the body, so Concourse pipelines and
playbooks can share one repository. We read our own trailers and every subject
form the Concourse resource and its forks have written (see docs/concourse.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

# operation -> the Concourse subject verb
SUBJECT_VERBS = {
    'claim': 'claiming',
    'release': 'unclaiming',
    'add': 'adding unclaimed',
    'add_claimed': 'adding claimed',
    'remove': 'removing',
    'update': 'updating',
    'renew': 'renewing',
    'move': 'moving',
}
_OPERATIONS = dict((verb, operation) for operation, verb in SUBJECT_VERBS.items())

TRAILER_HOLDER = 'Lock-Holder'
TRAILER_TEAM = 'Lock-Team'
TRAILER_POOL = 'Lock-Pool'

_SUBJECT = re.compile(
    r'^(?:(?P<prefix>.*?) )?(?P<verb>%s): (?P<lock>.+?)' % '|'.join(sorted(_OPERATIONS, key=len, reverse=True))
    + r'(?: Build URL:(?: (?P<url>\S+))?)?\s*$'
)
_BUILD_URL = re.compile(r'^Build URL:(?: *(?P<url>\S+))?\s*$')
_TRAILER = re.compile(r'^(?P<key>[A-Za-z][A-Za-z0-9-]*): ?(?P<value>.*)$')
_URL_TEAM = re.compile(r'/teams/(?P<team>[^/]+)/')
_POOL_BOY = re.compile(r'^Freshening up the pool with \d+ changes?')

CommitEvent = namedtuple('CommitEvent', 'operation lock holder team build_url')


def format_message(operation, lock, holder, team=None, pool=None, trailers=None):
    """The commit message for one operation on one lock."""
    lines = ['%s: %s' % (SUBJECT_VERBS[operation], lock), '']
    lines.append('%s: %s' % (TRAILER_HOLDER, holder))
    if team:
        lines.append('%s: %s' % (TRAILER_TEAM, team))
    if pool:
        lines.append('%s: %s' % (TRAILER_POOL, pool))
    for key, value in (trailers or []):
        lines.append('%s: %s' % (key, value))
    return '\n'.join(lines) + '\n'


def _trailers(message):
    found = {}
    for line in message.splitlines()[1:]:
        match = _TRAILER.match(line.strip())
        if match:
            found.setdefault(match.group('key').lower(), match.group('value').strip())
    return found


def lock_trailer(key, lock, value):
    """A trailer about one lock of a commit that may be about several: ``Key: <lock> <value>``."""
    return (key, '%s %s' % (lock, value))


def lock_trailer_value(message, key, lock):
    """The value of the ``lock_trailer`` ``key`` for ``lock`` in ``message``, or None."""
    wanted = key.lower()
    for line in message.splitlines()[1:]:
        match = _TRAILER.match(line.strip())
        if match and match.group('key').lower() == wanted:
            name, _sep, value = match.group('value').strip().rpartition(' ')
            if name == lock:
                return value
    return None


def lock_trailer_pattern(key, lock):
    """An extended regular expression (``git log -E --grep``) for the line of ``lock_trailer(key, lock, ...)``."""
    return '^%s: %s [^ ]+$' % (key, re.sub(r'([][.*+?{}()|^$\\])', r'\\\1', lock))


def _concourse_holder(prefix):
    """(holder, team) from a Concourse subject prefix such as ``team/pipeline/job build 42``."""
    if not prefix:
        return None, None
    who = prefix.split(' ', 1)[0]
    parts = who.split('/')
    team = parts[0] if len(parts) >= 3 else None
    return prefix, team


def _url_team(build_url):
    """The team in a Concourse build URL (``.../teams/main/pipelines/...``), or None."""
    match = _URL_TEAM.search(build_url or '')
    return match.group('team') if match else None


def parse_message(message, author=None):
    """Read a commit message written by us, by any Concourse version, or by Pool Boy.

    Returns a CommitEvent, or None when the message is not about a lock.
    """
    lines = message.splitlines() or ['']
    subject = lines[0].strip()
    if _POOL_BOY.match(subject):
        return CommitEvent('reap', None, author or 'Pool Boy', None, None)
    # Concourse >= 1.8 writes "Build URL: ..." on the line right after the subject.
    build_url = None
    if len(lines) > 1:
        url_line = _BUILD_URL.match(lines[1].strip())
        if url_line:
            build_url = url_line.group('url')
    match = _SUBJECT.match(subject)
    if not match:
        return None
    build_url = build_url or match.group('url')
    trailers = _trailers(message)
    holder = trailers.get(TRAILER_HOLDER.lower())
    team = trailers.get(TRAILER_TEAM.lower())
    if holder is None:
        holder, prefix_team = _concourse_holder(match.group('prefix'))
        holder = holder or build_url
        team = team or prefix_team or _url_team(build_url)
    return CommitEvent(_OPERATIONS[match.group('verb')], match.group('lock'), holder, team, build_url)

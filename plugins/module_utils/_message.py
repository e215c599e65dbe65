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

from urllib.parse import unquote, urlsplit

from ansible_collections.lockpool.git.plugins.module_utils._names import CONTROL_CHARACTERS

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
    'add_pool': 'adding pool',  # a new pool's .gitkeep files, in a commit before its first lock's
    'release_dirty': 'releasing dirty',  # commits that change no file (_dirty): Concourse's check never lists them
    'reset': 'claiming to reset',
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
# A Concourse subject prefix that names a job's build: ``WHO build N`` or (2015-16) ``WHO #N``.
_PREFIX_BUILD = re.compile(r'^(?P<who>.+) (?:build (?P<name>\S+)|#(?P<number>\d+))$')
_URL_BUILD = re.compile(r'/teams/(?P<team>[^/]+)/pipelines/(?P<pipeline>[^/]+)/jobs/(?P<job>[^/]+)/builds/(?P<name>[^/]+)/?$')

# ``build``: the ConcourseBuild the message names (a Concourse claim), or None.
CommitEvent = namedtuple('CommitEvent', 'operation lock holder team build_url build')

# The job build a Concourse message names. ``team`` is None in the forms written before v1.0.1;
# ``instance_vars`` is the text of the instance vars in a v1.7.1+ subject prefix (None without);
# ``query`` the query of a build URL (where Concourse keeps instance vars, ``vars=...``), '' without;
# ``url`` the build URL, or None when the subject prefix names the build.
ConcourseBuild = namedtuple('ConcourseBuild', 'team pipeline instance_vars job name query url')


def format_message(operation, lock, holder, team=None, pool=None, trailers=None):
    """The commit message for one operation on one lock (or several, ``lock`` their names joined by ``, ``).

    A lock that another tool named with a control character (a newline) is released or removed by its name: the subject
    shows such characters escaped, so that it stays one line and the trailers stay trailers.
    """
    shown = CONTROL_CHARACTERS.sub(lambda match: '\\x%02x' % ord(match.group()), lock)
    lines = ['%s: %s' % (SUBJECT_VERBS[operation], shown), '']
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
    return lock_trailer_values(message, key).get(lock)


def lock_trailer_values(message, key):
    """{lock: value} of every ``lock_trailer`` ``key`` in ``message`` (the first one of each lock)."""
    wanted = key.lower()
    found = {}
    for line in message.splitlines()[1:]:
        match = _TRAILER.match(line.strip())
        if match and match.group('key').lower() == wanted:
            name, _sep, value = match.group('value').strip().rpartition(' ')
            found.setdefault(name, value)
    return found


def lock_trailer_texts(message, key, lock):
    """The text after ``<lock> `` of every ``key`` trailer line about ``lock`` in ``message``, for values that may hold
    spaces (``Lock-Job: aws/env-1 awx 1234``); the caller tells which one it can read, should a lock name be another's prefix."""
    wanted, prefix = key.lower(), lock + ' '
    texts = []
    for line in message.splitlines()[1:]:
        match = _TRAILER.match(line.strip())
        if match and match.group('key').lower() == wanted and match.group('value').startswith(prefix):
            texts.append(match.group('value')[len(prefix):].strip())
    return texts


def lock_trailer_pattern(key, lock, lock_pattern=None):
    """An extended regular expression (``git log -E --grep``) for the line of ``lock_trailer(key, lock, ...)``;
    ``lock_pattern`` (an extended regular expression) follows the literal ``lock`` when given."""
    return '^%s: %s%s [^ ]+$' % (key, re.sub(r'([][.*+?{}()|^$\\])', r'\\\1', lock), lock_pattern or '')


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


def prefix_build(prefix):
    """The ConcourseBuild of a subject prefix: ``TEAM/PIPELINE/JOB build N``, ``TEAM/PIPELINE/INSTVARS/JOB build N``,
    ``PIPELINE/JOB build N`` or ``PIPELINE/JOB #N``; None for any other prefix (``one-off build ID``)."""
    match = _PREFIX_BUILD.match(prefix or '')
    if not match:
        return None
    parts = match.group('who').split('/')
    if len(parts) < 2 or not all(parts):
        return None
    name = match.group('name') or match.group('number')
    if len(parts) == 2:
        return ConcourseBuild(None, parts[0], None, parts[1], name, '', None)
    instance_vars = '/'.join(parts[2:-1]) or None
    return ConcourseBuild(parts[0], parts[1], instance_vars, parts[-1], name, '', None)


def _url_build(build_url):
    """The ConcourseBuild of a build URL (``https://ci/teams/T/pipelines/P/jobs/J/builds/N[?vars=...]``), or None."""
    if not build_url:
        return None
    parts = urlsplit(build_url)
    match = _URL_BUILD.search(parts.path)
    if not parts.netloc or not match:
        return None
    team, pipeline, job, name = (unquote(match.group(key)) for key in ('team', 'pipeline', 'job', 'name'))
    return ConcourseBuild(team, pipeline, None, job, name, parts.query, build_url)


def parse_message(message, author=None):
    """Read a commit message written by us, by any Concourse version, or by Pool Boy.

    Returns a CommitEvent, or None when the message is not about a lock.
    """
    lines = message.splitlines() or ['']
    subject = lines[0].strip()
    if _POOL_BOY.match(subject):
        return CommitEvent('reap', None, author or 'Pool Boy', None, None, None)
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
    build = _url_build(build_url) or prefix_build(match.group('prefix'))
    return CommitEvent(_OPERATIONS[match.group('verb')], match.group('lock'), holder, team, build_url, build)

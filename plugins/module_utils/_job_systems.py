# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smart reaping: which system's job a claim was made for, and whether that job still runs.

A claim of ours records its job in a ``Lock-Job: <pool>/<lock> <system> <id>`` trailer (``awx 1234``: the role
with_lock under AWX); a claim of Concourse's pool-resource names its build in the commit subject or a ``Build URL:``
line (_message.parse_message). ``job_ref`` reads which system that is (a JobRef). Each system has one file,
``_job_<name>.py`` (NAME, TITLE, URL_OPTION, TOKEN_OPTION, GONE, ``ident_of``, ``label`` and a Client with ``probe()``
and ``status(ident)``), in the registry SYSTEMS; to add one, write its file and list it there. ``JobSystems`` asks the
systems pool_reap was given a URL for, each job once per run, and turns every failure into an Answer that cannot tell
(``finished`` None) and says why: a job is never taken for finished unless its system said so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils import _job_awx, _job_concourse
from ansible_collections.lockpool.git.plugins.module_utils._errors import JobSystemError
from ansible_collections.lockpool.git.plugins.module_utils._job_api import JsonApi, api_url
from ansible_collections.lockpool.git.plugins.module_utils._message import lock_trailer, lock_trailer_texts, parse_message

TRAILER_JOB = 'Lock-Job'

SYSTEMS = dict((system.NAME, system) for system in (_job_awx, _job_concourse))

# The job of a claim: its system's NAME, the id that system knows it by, and how the result names it (``awx 1234``).
JobRef = namedtuple('JobRef', 'system ident label')

# What a system said of a claim's job. ``claim``: the sha of the claim commit it is about; ``finished``: True, False,
# or None when the system could not tell, and then ``why`` says why (never a secret).
Answer = namedtuple('Answer', 'claim job system finished status why')


def job_trailer(lock_ident, job):
    """The ``Lock-Job`` trailer of a claim of the lock ``<pool>/<lock>`` made for ``job`` (``awx 1234``)."""
    return lock_trailer(TRAILER_JOB, lock_ident, job)


def job_text(message, author, lock_ident):
    """The job of the claim commit ``message`` as a ``Lock-Job`` trailer of another commit would name it, or None."""
    found = job_ref(message, author, lock_ident)
    if found is None:
        return None
    return found.label if found.system == _job_awx.NAME else '%s %s' % (found.system, found.label)


def job_ref(message, author, lock_ident):
    """The JobRef of the claim commit ``message`` of the lock ``<pool>/<lock>``, or None when it names no job we know."""
    for text in lock_trailer_texts(message, TRAILER_JOB, lock_ident):
        name, _sep, rest = text.partition(' ')
        system = SYSTEMS.get(name)
        ident = system.ident_of(rest) if system is not None else None
        if ident is not None:
            return JobRef(name, ident, system.label(ident))
    event = parse_message(message, author)
    if event is not None and event.build is not None:
        return JobRef(_job_concourse.NAME, event.build, _job_concourse.label(event.build))
    return None


class JobSystems(object):
    """The systems the options name a URL for (``awx_url``, ``concourse_url``); false when they name none."""

    def __init__(self, clients):
        self.clients = clients
        self._probes = {}
        self._answers = {}

    @classmethod
    def from_params(cls, params, transport=None):
        """The systems of a module's ``params`` (``<system>_url``, ``<system>_token``, ``job_api_ssl_verify``)."""
        clients = {}
        for name, system in SYSTEMS.items():
            if params.get(system.URL_OPTION):
                api = JsonApi(system.TITLE, api_url(params[system.URL_OPTION], system.URL_OPTION), params.get(system.TOKEN_OPTION),
                              params.get('job_api_ssl_verify', True) is not False, transport)
                clients[name] = system.Client(api)
        return cls(clients)

    def __bool__(self):
        return bool(self.clients)

    __nonzero__ = __bool__

    def ask(self, ref, claim):
        """The Answer about ``ref``'s job for the claim commit ``claim`` (a sha); None when its system is not asked."""
        client = self.clients.get(ref.system)
        if client is None:
            return None
        if ref not in self._answers:
            self._answers[ref] = self._ask(client, ref)
        finished, status, why = self._answers[ref]
        return Answer(claim, ref.label, ref.system, finished, status, why)

    def _ask(self, client, ref):
        """(finished, status, why) of ``ref``'s job. A job its system says is not found is taken for gone only when the
        system's URL answers as its API does (``probe()``, once per system): a wrong URL, where every job would be
        "not found", never has every claim released."""
        try:
            finished, status = client.status(ref.ident)
            if status == SYSTEMS[ref.system].GONE:
                self._check_probe(client, ref.system)
            return finished, status, None
        except JobSystemError as exc:
            return None, None, client.api.scrub(str(exc))

    def _check_probe(self, client, system):
        if system not in self._probes:
            self._probes[system] = None
            try:
                client.probe()
            except JobSystemError as exc:
                self._probes[system] = exc
        if self._probes[system] is not None:
            raise JobSystemError('the job is not found, and %s' % self._probes[system])

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concourse: does build ``N`` of job ``TEAM/PIPELINE/JOB`` still run?

A claim made by Concourse's pool-resource names its build in the commit subject (``main/deploy/deploy-aws build 42
claiming: env-1``) or, since v1.8.0, in a ``Build URL:`` line (``.../teams/main/pipelines/deploy/jobs/deploy-aws/
builds/42``); _message.parse_message reads both into a ConcourseBuild. The ATC's API answers
``GET /api/v1/teams/<team>/pipelines/<pipeline>/jobs/<job>/builds/<name>`` (its route ``GetJobBuild``, in
concourse/concourse's atc/routes.go) with the build, whose ``status`` (atc/build.go) is pending or started (it still
runs) or succeeded, failed, errored, aborted (it is over). A build that is gone (HTTP 404: its pipeline or job
deleted) no longer runs either, once ``GET /api/v1/info`` (which needs no token) has answered with a ``version``, so
that a URL that is not the ATC's is never taken for one where every build is gone.

What cannot be asked is said so (a JobSystemError), never guessed: a claim that names no team (the pool-resource
before v1.0.1), a subject whose instance vars (v1.7.1-v1.7.2) cannot be turned back into the API's, and a build URL
on another server than ``concourse_url`` (the token is only ever sent to ``concourse_url``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import parse_qsl, quote, urlencode

from ansible_collections.lockpool.git.plugins.module_utils._errors import JobSystemError
from ansible_collections.lockpool.git.plugins.module_utils._job_api import job_status, same_server
from ansible_collections.lockpool.git.plugins.module_utils._message import prefix_build

NAME = 'concourse'
TITLE = 'Concourse'
URL_OPTION = 'concourse_url'
TOKEN_OPTION = 'concourse_token'

RUNNING = ('pending', 'started')
FINISHED = ('succeeded', 'failed', 'errored', 'aborted')
GONE = 'gone'  # the status reported for a build the API no longer has


def ident_of(text):
    """The build recorded after ``concourse `` in a ``Lock-Job`` trailer (``TEAM/PIPELINE/JOB build N``), or None."""
    return prefix_build(text.strip())


def label(build):
    """``TEAM/PIPELINE/JOB build N``, as the pool-resource names a build (the team left out when it is not known)."""
    who = '/'.join(part for part in (build.team, build.pipeline, build.instance_vars, build.job) if part is not None)
    return '%s build %s' % (who, build.name)


def _vars_query(query):
    """The instance vars of a build URL's query (``vars=...``, ``vars.KEY=...``), as a query for the API ('' if none)."""
    kept = [(key, value) for key, value in parse_qsl(query or '', keep_blank_values=True) if key == 'vars' or key.startswith('vars.')]
    return '?' + urlencode(kept) if kept else ''


class Client(object):
    """Asks the ATC whose API is ``api`` (a _job_api.JsonApi)."""

    def __init__(self, api):
        self.api = api

    def probe(self):
        info = self.api.get('/api/v1/info')
        if not isinstance(info, dict) or 'version' not in info:
            raise JobSystemError('%s does not answer as the Concourse API does (GET /api/v1/info has no version)' % self.api.url)

    def status(self, build):
        """(finished, status) of the ConcourseBuild ``build``."""
        if build.team is None:
            raise JobSystemError('the claim names no team (pool-resource before v1.0.1), and the API needs one')
        if build.instance_vars is not None:
            raise JobSystemError('the claim names the instance vars of its pipeline only as text (%s), not as the API needs them'
                                 % build.instance_vars)
        if build.url and not same_server(build.url, self.api.url):
            raise JobSystemError('the build URL is on another server than concourse_url (%s)' % self.api.url)
        path = '/api/v1/teams/%s/pipelines/%s/jobs/%s/builds/%s' % tuple(
            quote(part, safe='') for part in (build.team, build.pipeline, build.job, build.name))
        found = self.api.get(path + _vars_query(build.query), missing=True)
        if found is None:
            return True, GONE
        return job_status(TITLE, found, RUNNING, FINISHED)

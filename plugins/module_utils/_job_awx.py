# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX / Automation Controller: does job ``<id>`` still run?

A claim made under AWX by the role with_lock records ``Lock-Job: <pool>/<lock> awx <id>`` (the job's
``awx_job_id``). The controller's API answers ``GET /api/v2/jobs/<id>/`` with the job, whose ``status`` is one of
new, pending, waiting, running (it still runs) or successful, failed, error, canceled (it is over); see the
Jobs section of https://docs.ansible.com/automation-controller/latest/html/controllerapi/api_ref.html.
A job that is gone (HTTP 404: deleted, or cleaned up by a management job) no longer runs either, once
``GET /api/v2/ping/`` (which needs no token) has answered with a ``version``: a URL that is not the
controller's API, where every job would be "not found", is never taken for one where every job is gone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.lockpool.git.plugins.module_utils._errors import JobSystemError
from ansible_collections.lockpool.git.plugins.module_utils._job_api import job_status

NAME = 'awx'
TITLE = 'AWX'
URL_OPTION = 'awx_url'
TOKEN_OPTION = 'awx_token'

RUNNING = ('new', 'pending', 'waiting', 'running')
FINISHED = ('successful', 'failed', 'error', 'canceled')
GONE = 'gone'  # the status reported for a job the API no longer has


def ident_of(text):
    """The job id recorded after ``awx `` in a ``Lock-Job`` trailer (checked when it is asked about)."""
    return text.strip() or None


def label(ident):
    return '%s %s' % (NAME, ident)


class Client(object):
    """Asks the controller whose API is ``api`` (a _job_api.JsonApi)."""

    def __init__(self, api):
        self.api = api

    def probe(self):
        info = self.api.get('/api/v2/ping/')
        if not isinstance(info, dict) or 'version' not in info:
            raise JobSystemError('%s does not answer as the AWX API does (GET /api/v2/ping/ has no version)' % self.api.url)

    def status(self, ident):
        """(finished, status) of job ``ident``."""
        if not ident.isdigit():
            raise JobSystemError('%r is not an AWX job id (a number)' % ident)
        job = self.api.get('/api/v2/jobs/%s/' % ident, missing=True)
        if job is None:
            return True, GONE
        return job_status(TITLE, job, RUNNING, FINISHED)

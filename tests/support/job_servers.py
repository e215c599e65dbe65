"""Stand-ins for the two job APIs pool_reap asks (neither system can run here): AWX's and Concourse's, each an
http.server in a thread on a free loopback port, with bearer-token auth. A test sets each job's status.

They answer only what smart reaping asks, with fields the real APIs document:

- AWX / Automation Controller (https://docs.ansible.com/automation-controller/latest/html/controllerapi/api_ref.html,
  Jobs): ``GET /api/v2/ping/`` (no auth: ``version``, ``ha``, ``active_node``, ...), and ``GET /api/v2/jobs/<id>/``:
  the job (``id``, ``type``, ``url``, ``name``, ``status``: new, pending, waiting, running, successful, failed, error,
  canceled; ``failed``, ``started``, ``finished``, ``elapsed``), 404 ``{"detail": "Not found."}`` for a job it does
  not have, 401 without the right ``Authorization: Bearer <token>``.
- Concourse (concourse/concourse atc/routes.go ``GetInfo`` and ``GetJobBuild``; atc/build.go the build's JSON):
  ``GET /api/v1/info`` (no auth: ``version``, ``worker_version``, ``external_url``) and
  ``GET /api/v1/teams/<team>/pipelines/<pipeline>/jobs/<job>/builds/<name>``: the build (``id``, ``team_name``,
  ``name``, ``status``: pending, started, succeeded, failed, errored, aborted; ``job_name``, ``pipeline_name``,
  ``api_url``, ``start_time``, ``end_time``), 404 for a build it does not have, 401 without the right token.

``requests`` lists what each server was asked: (path with query, whether the right token came with it).
"""

import http.server
import json
import re
import threading
import time
from urllib.parse import unquote, urlsplit

AWX_FINISHED = ('successful', 'failed', 'error', 'canceled')
CONCOURSE_FINISHED = ('succeeded', 'failed', 'errored', 'aborted')


class _StandIn(object):
    """One API on ``http://127.0.0.1:<port>``; ``start()`` serves it in a thread, ``stop()`` ends it."""

    def __init__(self, token):
        self.token = token
        self.requests = []
        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def asked(self, path):
        """How many times ``path`` was asked for."""
        return sum(1 for asked, _authorized in self.requests if asked == path)

    def _handler_class(self):
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                authorized = self.headers.get('Authorization') == 'Bearer %s' % stand_in.token
                stand_in.requests.append((self.path, authorized))
                status, body = stand_in.answer(urlsplit(self.path), authorized)
                data = json.dumps(body).encode('utf-8') if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    def answer(self, url, authorized):
        raise NotImplementedError


class AwxServer(_StandIn):
    """AWX's API: ``set_job(id, status)`` makes job ``id`` exist with that status."""

    _JOB = re.compile(r'^/api/v2/jobs/(?P<id>\d+)/$')

    def __init__(self, token='awx-secret-token-0451'):
        super(AwxServer, self).__init__(token)
        self.jobs = {}

    def set_job(self, job_id, status):
        self.jobs[int(job_id)] = status

    def answer(self, url, authorized):
        if url.path == '/api/v2/ping/':
            return 200, {'ha': False, 'version': '24.6.1', 'active_node': 'awx-task-1', 'install_uuid': 'b1f0e4c2',
                         'instances': [], 'instance_groups': []}
        match = self._JOB.match(url.path)
        if not match:
            return 404, {'detail': 'Not found.'}
        if not authorized:
            return 401, {'detail': 'Authentication credentials were not provided.'}
        job_id = int(match.group('id'))
        if job_id not in self.jobs:
            return 404, {'detail': 'Not found.'}
        status = self.jobs[job_id]
        finished = status in AWX_FINISHED
        return 200, {'id': job_id, 'type': 'job', 'url': '/api/v2/jobs/%d/' % job_id, 'name': 'Deploy app',
                     'status': status, 'failed': status in ('failed', 'error'), 'launch_type': 'manual',
                     'started': '2027-01-15T08:00:00.000000Z',
                     'finished': '2027-01-15T08:10:00.000000Z' if finished else None,
                     'elapsed': 600.0 if finished else 0.0}


class ConcourseServer(_StandIn):
    """Concourse's API: ``set_build(team, pipeline, job, name, status)`` makes that build exist with that status."""

    _BUILD = re.compile(r'^/api/v1/teams/(?P<team>[^/]+)/pipelines/(?P<pipeline>[^/]+)/jobs/(?P<job>[^/]+)/builds/(?P<name>[^/]+)$')

    def __init__(self, token='concourse-secret-token-0452'):
        super(ConcourseServer, self).__init__(token)
        self.builds = {}

    def set_build(self, team, pipeline, job, name, status):
        self.builds[(team, pipeline, job, str(name))] = status

    def build_url(self, team, pipeline, job, name):
        """The URL of the build's page, as ``ATC_EXTERNAL_URL`` would make it (the pool-resource's ``Build URL:``)."""
        return '%s/teams/%s/pipelines/%s/jobs/%s/builds/%s' % (self.url, team, pipeline, job, name)

    def answer(self, url, authorized):
        if url.path == '/api/v1/info':
            return 200, {'version': '7.11.2', 'worker_version': '2.5', 'external_url': self.url, 'cluster_name': ''}
        match = self._BUILD.match(url.path)
        if not match:
            return 404, b'404 page not found\n'
        if not authorized:
            return 401, b'not authorized\n'
        key = tuple(unquote(match.group(part)) for part in ('team', 'pipeline', 'job', 'name'))
        if key not in self.builds:
            return 404, b''
        status = self.builds[key]
        started = int(time.time()) - 600
        build = {'id': 1000 + len(self.requests), 'team_name': key[0], 'name': key[3], 'status': status,
                 'job_name': key[2], 'pipeline_id': 7, 'pipeline_name': key[1], 'api_url': '/api/v1/builds/%d' % (1000 + len(self.requests)),
                 'start_time': started}
        if status in CONCOURSE_FINISHED:
            build['end_time'] = started + 300
        return 200, build

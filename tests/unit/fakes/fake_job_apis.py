"""AWX's and Concourse's job APIs as a transport for _job_api.JsonApi, in memory: what smart reaping's unit tests ask."""

import json

AWX = 'https://awx.example.com'
CI = 'https://ci.example.com'
AWX_TOKEN = 'awx-token-s3cr3t'
CI_TOKEN = 'ci-token-s3cr3t'
BUILD_URL = CI + '/teams/main/pipelines/deploy/jobs/deploy-aws/builds/42'


class FakeApis(object):
    """AWX and Concourse as a transport: ``answers`` {url: (status, body) or an exception}; ``calls`` what was asked."""

    def __init__(self):
        self.answers = {AWX + '/api/v2/ping/': (200, {'version': '24.6.1'}), CI + '/api/v1/info': (200, {'version': '7.11.2'})}
        self.calls = []

    def job(self, job_id, status):
        self.answers['%s/api/v2/jobs/%s/' % (AWX, job_id)] = (200, {'id': int(job_id), 'type': 'job', 'status': status})

    def build(self, path, status):
        self.answers[CI + '/api/v1/teams/' + path] = (200, {'id': 9, 'name': path.rsplit('/', 1)[1], 'status': status})

    def __call__(self, url, headers, validate_certs, timeout):
        self.calls.append((url, dict(headers)))
        answer = self.answers.get(url, (404, b'{"detail": "Not found."}'))
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return status, body if isinstance(body, bytes) else json.dumps(body).encode('utf-8')

    def asked(self):
        return [url for url, _headers in self.calls]

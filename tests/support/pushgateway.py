"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on a free loopback port, and reading it."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from support.servers import free_port, stop, wait_for_port

DEBIAN_PACKAGE = 'prometheus-pushgateway'


def pushgateway_binary():
    """The gateway's path; raises naming the Debian package when it is not installed."""
    path = shutil.which('prometheus-pushgateway')
    if path is None:
        raise RuntimeError('prometheus-pushgateway is not installed: apt-get install %s (tests/setup/install-system-packages does)'
                           % DEBIAN_PACKAGE)
    return path


class Pushgateway(object):
    """The gateway, without persistence: it forgets everything when stopped.

    With ``users`` ({name: password}), it lets only them in, with HTTP basic auth (its ``--web.config.file``
    holds their bcrypt hashes), and reads its metrics back as the first of them.
    """

    def __init__(self, users=None):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.users = dict(users or {})
        self.process = None
        self._config_dir = None

    def start(self):
        command = [pushgateway_binary(), '--web.listen-address=127.0.0.1:%d' % self.port]
        if self.users:
            import bcrypt  # requirements-dev.txt; only the tests of a gateway with basic auth need it

            self._config_dir = tempfile.mkdtemp(prefix='pushgateway-')
            config = os.path.join(self._config_dir, 'web.yml')
            with open(config, 'w') as handle:  # JSON is YAML
                json.dump({'basic_auth_users': {name: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
                                                for name, password in self.users.items()}}, handle)
            command.append('--web.config.file=' + config)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)
        return self

    def stop(self):
        if self.process is not None:
            stop(self.process)
        if self._config_dir is not None:
            shutil.rmtree(self._config_dir, ignore_errors=True)

    def samples(self, job):
        """Every sample the gateway holds for ``job``: [(name, labels without job and instance, value)]."""
        request = urllib.request.Request(self.url + '/metrics')
        for name, password in list(self.users.items())[:1]:
            request.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % (name, password)).encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode('utf-8')
        found = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get('job') == job:
                    labels = {key: value for key, value in sample.labels.items() if key not in ('job', 'instance')}
                    found.append((sample.name, labels, sample.value))
        return found

    def value(self, job, name, **labels):
        """The value of the one sample ``name`` with exactly ``labels`` (``le`` included for buckets), or None."""
        values = [value for sample, sample_labels, value in self.samples(job) if sample == name and sample_labels == labels]
        assert len(values) <= 1, 'more than one sample %s%r' % (name, labels)
        return values[0] if values else None

    def groups(self, job, name):
        """The label sets of every sample ``name`` holds for ``job``."""
        return [labels for sample, labels, _value in self.samples(job) if sample == name]

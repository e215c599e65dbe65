"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on a free loopback port, and reading it."""

import shutil
import subprocess
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
    """The gateway, without persistence: it forgets everything when stopped."""

    def __init__(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.process = None

    def start(self):
        self.process = subprocess.Popen([pushgateway_binary(), '--web.listen-address=127.0.0.1:%d' % self.port],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)
        return self

    def stop(self):
        if self.process is not None:
            stop(self.process)

    def samples(self, job):
        """Every sample the gateway holds for ``job``: [(name, labels without job and instance, value)]."""
        with urllib.request.urlopen(self.url + '/metrics', timeout=10) as response:
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

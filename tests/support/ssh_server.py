"""A real ``sshd`` (Debian's openssh-server) on a free loopback port, serving bare repositories by absolute path."""

import getpass
import os
import subprocess

from support.servers import free_port, require_binary, stop, wait_for_port

SSHD = '/usr/sbin/sshd'
PRIVSEP_DIR = '/run/sshd'


def make_key(path, passphrase='', comment='lockpool-tests'):
    """Create an ed25519 key pair at ``path`` / ``path.pub``; returns ``path``."""
    require_binary('ssh-keygen', 'openssh-client')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', str(path)],
                   check=True, capture_output=True)
    return str(path)


def read(path):
    with open(path) as handle:
        return handle.read()


class SshServer(object):
    """``sshd`` with a throw-away host key; ``authorize`` a public key to let its private key in."""

    def __init__(self, base):
        self.base = str(base)
        self.port = free_port()
        self.host_key = os.path.join(self.base, 'host_ed25519')
        self.authorized_keys = os.path.join(self.base, 'authorized_keys')
        self.log = os.path.join(self.base, 'sshd.log')
        self.process = None

    def start(self):
        require_binary(SSHD, 'openssh-server')
        make_key(self.host_key, comment='lockpool-test-host')
        open(self.authorized_keys, 'w').close()
        config = os.path.join(self.base, 'sshd_config')
        with open(config, 'w') as handle:
            handle.write('\n'.join([
                'ListenAddress 127.0.0.1',
                'HostKey %s' % self.host_key,
                'AuthorizedKeysFile %s' % self.authorized_keys,
                'StrictModes no',
                'PidFile none',
                'PermitRootLogin prohibit-password',
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'UsePAM no',
                'LogLevel VERBOSE',
                '']))
        if os.geteuid() == 0:
            os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        with open(self.log, 'w') as log:
            self.process = subprocess.Popen([SSHD, '-D', '-e', '-f', config, '-p', str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        return self

    def authorize(self, public_key_path):
        with open(self.authorized_keys, 'a') as handle:
            handle.write(read(public_key_path))

    @property
    def known_hosts(self):
        """The known_hosts line that trusts this server's host key."""
        key_type, key = read(self.host_key + '.pub').split()[:2]
        return '[127.0.0.1]:%d %s %s\n' % (self.port, key_type, key)

    def url(self, repo_path):
        return 'ssh://%s@127.0.0.1:%d%s' % (getpass.getuser(), self.port, os.path.abspath(str(repo_path)))

    def stop(self):
        if self.process is not None:
            stop(self.process)

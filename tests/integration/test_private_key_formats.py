"""Private keys as people paste them, against the real sshd of tests/support/ssh_server.py.

A key copied on Windows or through a web form (an AWX credential) has CRLF line endings; ssh cannot load
an OpenSSH key so written ("Load key ...: error in libcrypto"), yet it is the same key.
(A key ssh cannot load at all is test_authentication.py's.)
"""

from support.modules import run_module
from support.repos import make_lock_repo, pool_state
from support.ssh_server import make_key, read


def test_a_private_key_with_crlf_line_endings_is_accepted(ssh_server, tmp_path, cache_dir):
    key = make_key(tmp_path / 'key')
    ssh_server.authorize(key + '.pub')
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n'}})
    args = {'repo': ssh_server.url(repo), 'known_hosts': ssh_server.known_hosts, 'cache_dir': cache_dir,
            'pool': 'aws', 'holder': 'alice', 'private_key': read(key).replace('\n', '\r\n')}
    result = run_module('pool_lock', args)
    assert result.get('acquired'), result
    assert pool_state(repo, 'aws')['claimed'] == ['env-1']

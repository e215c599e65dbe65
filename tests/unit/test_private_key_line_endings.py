"""A private key pasted with CRLF (or CR) line endings is written for ssh with LF ones: ssh cannot load it otherwise."""

import os

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._credentials import Credentials

KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'


@pytest.mark.parametrize('line_end', ['\r\n', '\r'], ids=['crlf', 'cr'])
def test_the_key_file_has_unix_line_endings(line_end):
    credentials = Credentials(private_key=KEY.replace('\n', line_end))
    try:
        with open(os.path.join(credentials.directory, 'identity'), newline='') as handle:
            assert handle.read() == KEY
    finally:
        credentials.close()

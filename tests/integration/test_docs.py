"""Every plugin and role documents itself: ansible-doc renders it."""

import os
import subprocess

import pytest

from support.modules import PYTHON, module_env

ANSIBLE_DOC = os.path.join(os.path.dirname(PYTHON), 'ansible-doc')


@pytest.mark.parametrize('plugin_type, name', [
    ('module', 'lockpool.git.pool_lock'),
    ('module', 'lockpool.git.pool_reap'),
    ('module', 'lockpool.git.pool_lock_info'),
    ('module', 'lockpool.git.pool_status_page'),
    ('lookup', 'lockpool.git.pool_lock'),
    ('role', 'lockpool.git.with_lock'),
])
def test_ansible_doc_renders(plugin_type, name):
    result = subprocess.run([ANSIBLE_DOC, '-t', plugin_type, name], check=False, capture_output=True, text=True, env=module_env())
    assert result.returncode == 0, result.stderr
    assert '[ERROR]' not in result.stderr and '[WARNING]' not in result.stderr
    assert name in result.stdout

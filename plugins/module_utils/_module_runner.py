# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection does around its own work: check its libraries, report engine errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.lockpool.git.plugins.module_utils._connection import url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError
from ansible_collections.lockpool.git.plugins.module_utils._metadata import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import GITPYTHON_IMPORT_ERROR, HAS_GITPYTHON


def run_engine_module(module, run):
    """Exit ``module`` with ``run(module)``'s result, or fail it with a missing library or a LockpoolError's message.

    A secret written into the ``repo`` URL is masked in everything Ansible shows.
    """
    module.no_log_values.update(url_secrets(module.params['repo']))
    if not HAS_GITPYTHON:
        module.fail_json(msg=missing_required_lib('GitPython'), exception=str(GITPYTHON_IMPORT_ERROR))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))
    try:
        result = run(module)
    except LockpoolError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)

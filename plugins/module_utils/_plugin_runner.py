# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every plugin does around the engine: check the libraries it needs, report the engine's errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.lockpool.git.plugins.module_utils._connection import url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError
from ansible_collections.lockpool.git.plugins.module_utils._metadata import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import GITPYTHON_IMPORT_ERROR, HAS_GITPYTHON


def missing_library():
    """(message, import error) for the first required library that cannot be imported, or None."""
    for name, present, error in (('GitPython', HAS_GITPYTHON, GITPYTHON_IMPORT_ERROR), ('PyYAML', HAS_YAML, YAML_IMPORT_ERROR)):
        if not present:
            return missing_required_lib(name), error
    return None


def run_ansible_module(module, run_module):
    """Exit ``module`` with ``run_module(module)``'s result, or fail it with what is missing or wrong.

    A secret written into the ``repo`` URL is masked in everything Ansible shows.
    """
    module.no_log_values.update(url_secrets(module.params['repo']))
    missing = missing_library()
    if missing:
        module.fail_json(msg=missing[0], exception=str(missing[1]))
    try:
        result = run_module(module)
    except LockpoolError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)

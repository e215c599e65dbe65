# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every plugin does around the engine: check the libraries it needs, run an operation, report the engine's errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._connection import remote_from_options, url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError
from ansible_collections.lockpool.git.plugins.module_utils._holder import default_holder
from ansible_collections.lockpool.git.plugins.module_utils._metadata import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.lockpool.git.plugins.module_utils._metrics import gateway_secrets, operation_metrics
from ansible_collections.lockpool.git.plugins.module_utils._lifetime import Lifetime
from ansible_collections.lockpool.git.plugins.module_utils._processes import ProcessIdentity
from ansible_collections.lockpool.git.plugins.module_utils._operations import Request, execute, keep_renewed
from ansible_collections.lockpool.git.plugins.module_utils._options import OptionAdapter
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import GITPYTHON_IMPORT_ERROR, HAS_GITPYTHON, RepoCache


def missing_library():
    """(message, import error) for the first required library that cannot be imported, or None."""
    for name, present, error in (('GitPython', HAS_GITPYTHON, GITPYTHON_IMPORT_ERROR), ('PyYAML', HAS_YAML, YAML_IMPORT_ERROR)):
        if not present:
            return missing_required_lib(name), error
    return None


def run_ansible_module(module, run_module):
    """Exit ``module`` with ``run_module(module)``'s result, or fail it with what is missing or wrong.

    A secret written into the ``repo`` URL, or into the Pushgateway's, is masked in everything Ansible shows.
    """
    module.no_log_values.update(url_secrets(module.params['repo']) + gateway_secrets(module.params.get('prometheus_push_gateway')))
    missing = missing_library()
    if missing:
        module.fail_json(msg=missing[0], exception=str(missing[1]))
    try:
        result = run_module(module)
    except LockpoolError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


@contextlib.contextmanager
def current_state(options, max_age=None):
    """(cache, snapshot) of the lock repository ``options`` (an _options.OptionAdapter) name, as the server has it now
    (or had it at most ``max_age`` seconds ago, see inventory.current)."""
    with remote_from_options(options) as remote:
        with RepoCache(remote) as cache:
            yield cache, inventory.current(cache, max_age)


def change_state(module, operation_class, observer=None):
    """Run ``operation_class`` (see _operations) with ``module``'s options; the module's result.

    ``observer`` (a transaction.Observer) replaces the metrics the module's options ask for (a test's pause).
    The run is bound to its lifetime (_lifetime): SIGTERM, SIGINT and SIGHUP, and the end of the controller
    process that ``controller_process`` names, stop it on its way, cleaning up as it goes.
    """
    params = module.params
    if observer is None:
        observed = operation_metrics(params, operation_class, module.check_mode, module.warn)
    else:
        observed = contextlib.nullcontext(observer)
    controller = params.get('controller_process')
    lifetime = Lifetime(ProcessIdentity.parse(controller) if controller else None)
    with lifetime.signals_stop(), observed as observer:
        operation = operation_class(Request.from_params(params, module.check_mode, default_holder), params)
        with remote_from_options(OptionAdapter.from_ansible_module(module)) as remote:
            with RepoCache(remote) as cache:
                if operation.keep_renewed and not module.check_mode:
                    result = keep_renewed(cache, operation, lifetime)
                else:
                    result = execute(cache, operation, observer, lifetime)
    for warning in operation.warnings():
        module.warn(warning)
    if not module._diff:
        del result['diff']
    return result

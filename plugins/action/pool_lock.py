# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of lockpool.git.pool_lock: binds the task to the ansible-playbook process that runs it,
and runs the module inside the task's worker when the module would run on the controller anyway.

This runs in the task's worker, whose parent is the controller. When the module runs on this machine
too (a local connection: localhost, delegate_to: localhost), it is told that process (its
``controller_process`` option), so that it stops waiting, and stops renewing a lease, once the play is
gone, even though Ansible's workers setsid() and async tasks are daemonized out of the reach of the kill
that ended the play. A module on another host cannot see this machine's processes: leases cover it.

On the controller, the module's ``main()`` runs in this worker (no AnsiballZ payload, no second Python):
it is given its arguments and prints its result exactly as in a process of its own, and that result is
read exactly as Ansible reads a module's, so both ways give the same result, check mode and diff. The
module runs in a process of its own wherever that would differ: on another host, with become (another
user), with the task's ``environment`` (which only a new process gets), as an async task (it must outlive
the worker), where this Python lacks the engine's libraries, and with LOCKPOOL_IN_PROCESS=0 set.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io
import json
import os
import traceback

from ansible.module_utils import basic
from ansible.module_utils.common import json as common_json
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

from ansible_collections.lockpool.git.plugins.module_utils._processes import ProcessIdentity
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import missing_library
from ansible_collections.lockpool.git.plugins.modules import pool_lock as pool_lock_module

try:
    from ansible.module_utils import _internal as module_utils_internal
except ImportError:  # ansible-core before 2.19: the module runs in a process of its own
    module_utils_internal = None

MODULE = 'lockpool.git.pool_lock'
# How the module's arguments and result are serialized when it runs in a process of its own (its metadata's default).
PROFILE = 'legacy'
# ansible-core from 2.19 on names the serialization of a module's arguments and results; before, the module path serves.
CAN_RUN_IN_PROCESS = hasattr(common_json, 'get_module_encoder') and hasattr(module_utils_internal, 'is_controller')


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # has no effect since ansible-core 2.x; the connection's shell keeps the temporary directory
        module_args = dict(self._task.args)
        if self._connection.transport == 'local' and not module_args.get('controller_process'):
            module_args['controller_process'] = ProcessIdentity.of(os.getppid()).describe()
        if self._runs_in_process():
            return merge_hash(result, self._run_in_process(module_args, task_vars))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                                         wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _runs_in_process(self):
        """True when the module would run on this machine, as this user, in an environment like this worker's."""
        return (CAN_RUN_IN_PROCESS and self._connection.transport == 'local' and not self._play_context.become
                and not self._task.async_val and not any(self._task.environment or ()) and missing_library() is None
                and boolean(os.environ.get('LOCKPOOL_IN_PROCESS') or 'true', strict=False))

    def _run_in_process(self, module_args, task_vars):
        """The module's result, its ``main()`` run here on the arguments Ansible would hand it."""
        self._update_module_args(MODULE, module_args, task_vars)
        try:
            printed = run_main_in_process(module_args)
        except Exception as exc:  # a bug: reported as Ansible reports a module that died of one
            return dict(failed=True, msg='MODULE FAILURE: %s' % exc, module_stderr=traceback.format_exc(), rc=1)
        data = self._parse_returned_data(dict(stdout=printed, stderr='', rc=0), PROFILE)
        remove_internal_keys(data)
        return data


def run_main_in_process(module_args):
    """What pool_lock's ``main()`` prints, run in this process on ``module_args`` (with Ansible's ``_ansible_*`` keys)
    handed to it as Ansible hands a module its arguments."""
    encoder = common_json.get_module_encoder(PROFILE, common_json.Direction.CONTROLLER_TO_MODULE)
    basic._ANSIBLE_ARGS = json.dumps(dict(ANSIBLE_MODULE_ARGS=module_args), cls=encoder).encode()
    basic._ANSIBLE_PROFILE = PROFILE
    # On the controller, module_utils show warnings and deprecations at once; a module returns them in its result.
    controller, module_utils_internal.is_controller = module_utils_internal.is_controller, False
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            pool_lock_module.main()
    except SystemExit:
        pass  # exit_json and fail_json end the module with it, after printing its result
    finally:
        basic._ANSIBLE_ARGS = None
        module_utils_internal.is_controller = controller
    return printed.getvalue()

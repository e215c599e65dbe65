# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of lockpool.git.pool_lock: binds the task to the ansible-playbook process that runs it.

This runs in the task's worker, whose parent is the controller. When the module runs on this machine
too (a local connection: localhost, delegate_to: localhost), it is told that process (its
``controller_process`` option), so that it stops waiting, and stops renewing a lease, once the play is
gone, even though Ansible's workers setsid() and async tasks are daemonized out of the reach of the kill
that ended the play. A module on another host cannot see this machine's processes: leases cover it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.lockpool.git.plugins.module_utils._lifetime import ControllerProcess

MODULE = 'lockpool.git.pool_lock'


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # has no effect since ansible-core 2.x; the connection's shell keeps the temporary directory
        module_args = dict(self._task.args)
        if self._connection.transport == 'local' and not module_args.get('controller_process'):
            module_args['controller_process'] = ControllerProcess.of(os.getppid()).describe()
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                                         wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lockpool.git.reserved_host: the environment a lock reserves, added to the play's in-memory inventory.

Runs on the controller only and asks the lock repository nothing: it turns one lock, as pool_lock returns it, into
what ansible.builtin.add_host returns (``add_host: {host_name, groups, host_vars}``), which Ansible's strategy adds
to the inventory, for each item of a loop too. What becomes a host variable is decided by ``host_entry`` below and
documented in plugins/modules/reserved_host.py and docs/reserved-environments.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import keyword

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.collections import is_string
from ansible.plugins.action import ActionBase

# The host variable that carries the lock itself, and what of the lock it carries.
LOCK_VARIABLE = 'lockpool_lock'
LOCK_FIELDS = ('name', 'pool', 'holder', 'token', 'metadata', 'data')

ARGUMENT_SPEC = dict(
    lock=dict(type='raw', required=True),
    groups=dict(type='list', elements='str', default=['reserved']),
    name=dict(type='str'),
    variables=dict(type='list', elements='str'),
)


def is_variable_name(key):
    """Whether ``key`` can name a variable: an ASCII identifier that is not a Python keyword (as Ansible requires)."""
    return is_string(key) and key.isascii() and key.isidentifier() and not keyword.iskeyword(key)


def host_name_of(lock, name=None):
    """The host's name: ``name``, or the lock's. Fails on anything that is not a lock as pool_lock returns one."""
    if lock is None:
        raise AnsibleActionFail('lock is null: no lock was acquired (a claim that did not wait, or check mode with '
                                'nothing free), so there is no environment to add')
    if not isinstance(lock, dict) or not is_string(lock.get('name')) or not lock.get('name') \
            or not is_string(lock.get('pool')):
        raise AnsibleActionFail('lock must be a lock as lockpool.git.pool_lock returns it (a mapping with name and '
                                'pool, such as result.lock or an item of result.locks), got %r' % (lock,))
    if name is not None and not name.strip():
        raise AnsibleActionFail('name must not be empty')
    return name or lock['name']


def host_entry(lock, host_name, groups, variables=None, known=False):
    """What add_host would get for the environment ``lock`` reserves: {host_name, groups, host_vars}, and warnings.

    A host new to the inventory gets as variables every top-level key of the lock's parsed metadata when it is a
    mapping (the lock's ``data``), plus ``ansible_host`` from ``host`` when the metadata has no ``ansible_host``; with
    ``variables``, only those of them. A key that cannot name a variable, or that is LOCK_VARIABLE, is left out with a
    warning. A host already in the inventory (``known``) keeps its own variables: it gets none of the metadata's.
    Either way the host gets LOCK_VARIABLE, the lock's LOCK_FIELDS, and is put in ``groups``; nothing is removed.
    """
    candidates = {}
    if not known and isinstance(lock.get('data'), dict):
        candidates = dict(lock['data'])
        if is_string(candidates.get('host')) and candidates['host'] and 'ansible_host' not in candidates:
            candidates['ansible_host'] = candidates['host']
    if variables is not None:
        candidates = dict((key, value) for key, value in candidates.items() if key in variables)
    left_out = sorted(key for key in candidates if not is_variable_name(key) or key == LOCK_VARIABLE)
    host_vars = dict((key, value) for key, value in candidates.items() if key not in left_out)
    host_vars[LOCK_VARIABLE] = dict((field, lock.get(field)) for field in LOCK_FIELDS)
    warnings = []
    if left_out:
        warnings.append('metadata of lock %r in pool %r: not host variables of %s, as they are not variable names or are '
                        '%s: %s (%s.data holds them)' % (lock['name'], lock['pool'], host_name, LOCK_VARIABLE,
                                                         ', '.join(repr(key) for key in left_out), LOCK_VARIABLE))
    return dict(host_name=host_name, groups=list(groups), host_vars=host_vars), warnings


class ActionModule(ActionBase):
    """Returns ``add_host`` for the environment of one lock; the strategy adds it to the in-memory inventory."""

    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # has no effect since ansible-core 2.x
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host_name = host_name_of(args['lock'], args['name'])
        known = host_name in (task_vars or {}).get('hostvars', {})
        entry, warnings = host_entry(args['lock'], host_name, args['groups'], args['variables'], known)
        result.update(changed=False, add_host=entry)  # the strategy sets changed: whether the inventory changed
        if warnings:
            result['warnings'] = warnings
        return result

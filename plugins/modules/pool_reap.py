#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pool_reap
short_description: Release the stale claims of a git lock pool (expired leases, or claims older than a given age)
version_added: 0.2.0
description:
  - Releases, in one commit, every claimed lock of O(pool) whose lease (M(lockpool.git.pool_lock) O(lockpool.git.pool_lock#module:lease))
    has expired and, with O(older_than), every claimed lock claimed longer ago than that.
  - A claim without a lease, a claim made by Concourse included, is only released by O(older_than), never by default.
  - "The commit has Concourse's release subject (C(unclaiming: env-1, env-2)) and one C(Lock-Reaped) trailer per lock
    saying why. It is pushed only on top of the state it was decided on, like every other change."
  - The fencing token of a reaped claim is over, so its holder's later release with O(lockpool.git.pool_lock#module:token) fails.
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - lockpool.git.connection
  - lockpool.git.attributes
attributes:
  check_mode:
    support: full
    details: Reports in RV(released) what would be released, and pushes nothing.
  diff_mode:
    support: none
options:
  pool:
    description: The pool to reap.
    type: str
    required: true
  older_than:
    description:
      - Also release claims made longer ago than this (V(90m), V(1d), seconds), whether they have a lease or not.
    type: raw
  team:
    description:
      - Only release claims recorded with this team (C(Lock-Team), or the team of a Concourse build).
    type: str
  holder:
    description: Who reaps, recorded in the commit.
    type: str
    default: lockpool reaper
  timeout:
    description: Seconds to keep retrying lost push races at most; V(0) is no limit.
    type: raw
    default: 0
'''

EXAMPLES = r'''
- name: Release every lock of the aws pool whose lease has expired
  lockpool.git.pool_reap:
    repo: git@github.com:example/locks.git
    pool: aws

- name: Also release the platform team's claims older than a day, Concourse's included
  lockpool.git.pool_reap:
    repo: git@github.com:example/locks.git
    pool: aws
    older_than: 1d
    team: platform
  register: reaped

- name: Say what was released
  ansible.builtin.debug:
    msg: "{{ reaped.released | map(attribute='name') | list }}"
'''

RETURN = r'''
released:
  description: The locks released (in check mode, that would be), oldest name first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The lock.
      type: str
    holder:
      description: Who held it.
      type: str
    team:
      description: The team recorded with the claim.
      type: str
    claimed_at:
      description: When it was claimed (ISO 8601, UTC).
      type: str
    expires_at:
      description: When its lease expired, or null when it had none.
      type: str
    token:
      description: The fencing token of the claim that was released, or null.
      type: int
    reason:
      description: V(lease-expired) or V(older-than).
      type: str
commit:
  description: The commit pushed, or null.
  returned: always
  type: str
attempts:
  description: Push races lost before the change landed.
  returned: always
  type: int
'''

import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC
from ansible_collections.lockpool.git.plugins.module_utils._operations import Reap
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import change_state, run_ansible_module


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        pool=dict(type='str', required=True),
        older_than=dict(type='raw'),
        team=dict(type='str'),
        holder=dict(type='str', default='lockpool reaper'),
        timeout=dict(type='raw', default=0),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_ansible_module(module, functools.partial(change_state, operation_class=Reap))


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The action plugin plugins/action/reserved_host.py does all the work, on the controller; this file documents it.

DOCUMENTATION = r'''
module: reserved_host
short_description: Add the environment a lock reserves to the in-memory inventory, with its metadata as host variables
version_added: 0.1.0
description:
  - "Adds a host named after a lock (O(lock)) to the play's in-memory inventory, in O(groups), as
    M(ansible.builtin.add_host) does, so that the tasks that follow can delegate to it and the plays that follow can
    target it (C(hosts: reserved))."
  - "A host new to the inventory gets the lock's metadata as host variables: when the metadata parses as a mapping
    (RV(lockpool.git.pool_lock#module:lock.data)), each top-level key whose name can be a variable name becomes a host
    variable with its value, and C(host) is also copied to C(ansible_host) when the metadata has no C(ansible_host).
    Keys that cannot name a variable (C(a-b), C(x y)) are left out with a warning. Metadata that is not a mapping gives
    no variables but C(lockpool_lock)."
  - A host already in the inventory (from the inventory's sources, or added earlier in the run) keeps its own variables
    and gets none of the metadata's; it is put in O(groups) and gets C(lockpool_lock).
  - "Every host added gets the variable C(lockpool_lock): the lock's C(name), C(pool), C(holder), C(token), C(metadata)
    and C(data), so that tasks on the host know which lock they run under (and can release it,
    C(delegate_to: localhost)). It replaces a C(lockpool_lock) the host had."
  - Nothing is ever removed. The host stays in the inventory and in its groups until the run ends, after the lock is
    released too.
  - Never talks to the lock repository; several locks (O(lockpool.git.pool_lock#module:count), a list of names) are
    added with a C(loop) over RV(lockpool.git.pool_lock#module:locks).
notes:
  - The metadata's values are data, never templates; a value such as C({{ x }}) stays that text.
  - Whoever can push to the lock repository decides, through the metadata, how Ansible reaches the host
    (C(ansible_connection), C(ansible_host), C(ansible_ssh_common_args), C(ansible_python_interpreter)...). Trust it as
    you trust your inventory, or take only the variables you expect with O(variables).
  - The metadata's variables are host variables, as if the inventory defined them for that host; they win over group
    variables and lose to play variables, task variables and extra variables.
  - The host is not in C(--limit) unless named there, as with M(ansible.builtin.add_host).
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
    details: Runs for each host of the play, so that each host's lock is added.
  check_mode:
    support: full
    details: Adds the host in check mode too, as M(ansible.builtin.add_host) does; only the in-memory inventory changes.
  connection:
    support: none
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  lock:
    description:
      - The lock, as M(lockpool.git.pool_lock) returns it (RV(lockpool.git.pool_lock#module:lock), an item of
        RV(lockpool.git.pool_lock#module:locks)) or as the role R(lockpool.git.with_lock,ansible_collections.lockpool.git.with_lock_role)
        sets it (C(with_lock_held)). Null fails, saying that no lock was acquired.
    type: dict
    required: true
  groups:
    description:
      - The groups to put the host in; a group that does not exist is created.
    type: list
    elements: str
    default: [reserved]
  name:
    description:
      - The host's name; the lock's name when not given.
      - Locks of two pools may have one name; give O(name) (such as C("{{ item.pool }}-{{ item.name }}")) to make two hosts of them.
    type: str
  variables:
    description:
      - Take only these of the variables the metadata gives (C(ansible_host) included, when it comes from C(host)).
      - Every one of them when not given.
    type: list
    elements: str
seealso:
  - module: ansible.builtin.add_host
  - module: lockpool.git.pool_lock
'''

EXAMPLES = r'''
- name: Reserve an environment, and let the next play run on it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Reserve an environment
      lockpool.git.pool_lock:
        repo: git@github.com:example/locks.git
        pool: aws
        holder: "{{ awx_job_id | default(lookup('ansible.builtin.env', 'USER')) }}"
      register: env

    # The keys of its metadata (say ansible_host, ansible_user) become the host's variables
    - name: Add it to the inventory, in the group reserved
      lockpool.git.reserved_host:
        lock: "{{ env.lock }}"

- name: Work on the environment reserved
  hosts: reserved
  tasks:
    - name: Say which lock this host runs under
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} is {{ lockpool_lock.pool }}/{{ lockpool_lock.name }}, token {{ lockpool_lock.token }}"

- name: Several environments at once, each a host; only the connection variables taken from the metadata
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Reserve two environments
      lockpool.git.pool_lock:
        repo: git@github.com:example/locks.git
        pool: aws
        holder: "{{ awx_job_id | default(lookup('ansible.builtin.env', 'USER')) }}"
        count: 2
      register: envs

    - name: Add each to the groups reserved and aws
      lockpool.git.reserved_host:
        lock: "{{ item }}"
        groups: [reserved, aws]
        variables: [ansible_host, ansible_user, ansible_port]
      loop: "{{ envs.locks }}"
      loop_control:
        label: "{{ item.name }}"
'''

RETURN = r'''
add_host:
  description: What the strategy adds to the in-memory inventory, as M(ansible.builtin.add_host) returns it.
  returned: always
  type: dict
  contains:
    host_name:
      description: The host's name.
      type: str
      sample: env-1
    groups:
      description: The groups the host is put in.
      type: list
      elements: str
      sample: [reserved]
    host_vars:
      description: The variables the host is given (C(lockpool_lock) included).
      type: dict
      sample:
        ansible_host: 10.0.3.7
        ansible_user: ci
        lockpool_lock: {name: env-1, pool: aws, holder: alice, token: 7, metadata: "ansible_host: 10.0.3.7\nansible_user: ci\n",
                        data: {ansible_host: 10.0.3.7, ansible_user: ci}}
'''

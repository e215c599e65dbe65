#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pool_lock_info
short_description: Show the pools and locks of a git lock repository, and who holds them since when
version_added: 0.1.0
description:
  - Reads a lock repository laid out as the Concourse pool-resource lays it out and returns every pool, every lock
    with its metadata, and for claimed locks who holds them and since when.
  - Holders are read from the commit that claimed the lock, whether Ansible or any version of the Concourse
    pool-resource wrote it (subjects prefixed with C(team/pipeline/job build N), C(Build URL) lines, ...).
  - With O(history), also returns the last lock events of the repository, that is who claimed, released, added,
    updated and removed which lock, and when.
  - Never changes the repository. The local cache is fetched only when the branch moved on the server.
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - lockpool.git.connection
  - lockpool.git.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  pool:
    description:
      - The pool to show. All pools of the repository when not given.
    type: str
  name:
    description:
      - Show only this lock of O(pool). Fails when the lock does not exist.
    type: str
  history:
    description:
      - How many lock events to return in RV(events), newest first. V(0) returns none.
      - Limited to O(pool) and O(name) when they are given.
    type: int
    default: 0
'''

EXAMPLES = r'''
- name: Read every pool
  lockpool.git.pool_lock_info:
    repo: git@github.com:example/locks.git
  register: locks

- name: Print who holds what, and for how long
  ansible.builtin.debug:
    msg: "{{ item.0.key }}/{{ item.1.name }}: {{ item.1.holder }} for {{ item.1.age }}s"
  loop: "{{ locks.pools | dict2items | subelements('value.locks') }}"
  when: item.1.state == 'claimed'

- name: The last 20 things that happened to the aws pool
  lockpool.git.pool_lock_info:
    repo: git@github.com:example/locks.git
    pool: aws
    history: 20
  register: audit

- name: Fail when no environment of the aws pool is free
  ansible.builtin.assert:
    that: audit.pools.aws.available > 0
'''

RETURN = r'''
commit:
  description: The commit of the branch that was read.
  returned: always
  type: str
pools:
  description: Each pool by name.
  returned: always
  type: dict
  contains:
    available:
      description: How many locks of the pool are free.
      type: int
      sample: 3
    claimed:
      description: How many locks of the pool are claimed, the dirty ones included (Concourse sees them claimed).
      type: int
      sample: 1
    dirty:
      description:
        - How many locks of the pool are dirty, released dirty or being reset (see
          O(lockpool.git.pool_lock#module:dirty)); they are not handed out until a reset releases them.
      type: int
      sample: 0
    locks:
      description: The pool's locks (only O(name) when given), sorted by name.
      type: list
      elements: dict
      contains:
        name:
          description: The lock's name.
          type: str
          sample: env-1
        pool:
          description: The pool.
          type: str
          sample: aws
        state:
          description:
            - V(claimed), V(unclaimed), or V(dirty) for a claimed lock that was released dirty, or that a reset holds
              (RV(pools.locks[].resetting)).
          type: str
        dirty_reason:
          description: Why the lock is dirty, as its dirty release said; null when it gave no reason.
          returned: when the lock is dirty
          type: str
          sample: "deploy failed: timeout waiting for the load balancer"
        dirty_by:
          description: Who released the lock dirty.
          returned: when the lock is dirty
          type: str
        dirty_team:
          description: The team recorded with the dirty release, if any.
          returned: when the lock is dirty
          type: str
        dirty_job:
          description: The job whose claim was released dirty (V(awx 1234), a Concourse build), if it was recorded.
          returned: when the lock is dirty
          type: str
        dirty_at:
          description: When the lock was released dirty (ISO 8601, UTC).
          returned: when the lock is dirty
          type: str
        resetting:
          description: Whether a reset holds the dirty lock now; RV(pools.locks[].holder) is then who resets it.
          returned: when the lock is dirty
          type: bool
        metadata:
          description: The lock file's content as text.
          type: str
          sample: "region: eu-west-1\n"
        data:
          description:
            - The metadata parsed as YAML or JSON when it is a mapping or a list, else null.
            - Always what JSON carries, whatever the lock file holds. Dates and times are ISO 8601 text, binary (C(!!binary)) its
              base64 text, a set a sorted list, a mapping key that is not text its JSON text (C(404), C(true), C(null)), C(.inf) and
              C(.nan) their YAML text; a value with a tag YAML does not define (C(!vault)) is read as if it had none.
            - Null when the lock file is larger than 1 MiB, when its aliases would expand it beyond 2 MiB, nests deeper than 100
              levels or holds itself, so that a hostile lock file costs a reader no more than a large one; RV(pools.locks[].metadata) still has its text.
          type: raw
        holder:
          description:
            - Who holds a claimed lock. A Concourse holder is shown as C(team/pipeline/job build N), or as its build URL.
          type: str
          sample: main/deploy/deploy-aws build 42
        team:
          description: The team recorded with the claim, or the Concourse team, if any.
          type: str
        claimed_at:
          description: When a claimed lock was claimed (ISO 8601, UTC).
          type: str
          sample: "2026-11-23T09:41:07Z"
        age:
          description:
            - Seconds since the commit that put the lock in its current state.
            - Null for unclaimed locks unless O(name) is given (finding it would walk the whole history).
          type: int
        commit:
          description: The commit that put the lock in its current state; null where RV(pools.locks[].age) is null.
          type: str
        token:
          description: The fencing token of the current claim (see M(lockpool.git.pool_lock)); null when unclaimed or claimed by Concourse.
          type: int
        expires_at:
          description: When the lease of the current claim expires (ISO 8601, UTC); null without a lease.
          type: str
        expired:
          description: Whether that lease has expired (the lock can be reaped by M(lockpool.git.pool_reap)).
          type: bool
    problems:
      description:
        - What is wrong with the pool's files, each said as an operation on it would say it; empty for a sound pool.
        - A lock in both C(claimed/) and C(unclaimed/), or an entry that is not a plain file (a symbolic link, a directory).
        - A free lock that a claim of any lock never takes (its name has a control character), and why.
          Without O(pool), a pool that cannot be read at all is listed with its problem and no locks, and the other pools are read.
      type: list
      elements: str
      sample: ["lock 'env-1' is in both aws/claimed/ and aws/unclaimed/; remove one of them by hand"]
    queue:
      description:
        - The claims waiting in the pool's fair queue (O(lockpool.git.pool_lock#module:fair=true)), oldest first; expired tickets are left out.
      type: list
      elements: dict
      contains:
        position:
          description: 1 for the claim served next.
          type: int
        ticket:
          description: The waiter's ticket id.
          type: str
        arrived_at:
          description: When the waiter started waiting (ISO 8601, UTC).
          type: str
        wanted:
          description: How many locks it waits for.
          type: int
        expires_at:
          description: When its ticket expires unless the waiter renews it.
          type: str
events:
  description: The last O(history) lock events, newest first; one per lock a commit changed, or handed to someone without changing a file.
  returned: when O(history) is more than 0
  type: list
  elements: dict
  contains:
    commit:
      description: The commit.
      type: str
    time:
      description: When it was committed (ISO 8601, UTC).
      type: str
    operation:
      description:
        - What the commit did to the lock, read from the paths it changed.
        - For a commit that changes no file, from the trailer that names the lock; V(takeover) (a claim of a lock whose lease
          had run out), V(release_dirty) and V(reset) (see O(lockpool.git.pool_lock#module:dirty) and
          O(lockpool.git.pool_lock#module:reset)).
      type: str
      choices: [claim, release, add, add_claimed, update, remove, takeover, release_dirty, reset]
    pool:
      description: The pool.
      type: str
    lock:
      description: The lock.
      type: str
    holder:
      description: Who did it, from the commit message (Ansible's C(Lock-Holder) trailer or the Concourse build); null when the message does not say.
      type: str
    team:
      description: The team, if the commit message names one.
      type: str
    message:
      description: The commit's subject.
      type: str
      sample: "main/deploy/deploy-aws build 42 claiming: env-1"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._options import OptionAdapter
from ansible_collections.lockpool.git.plugins.module_utils._pool_report import report_pools
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import current_state, run_ansible_module


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        pool=dict(type='str'),
        name=dict(type='str'),
        history=dict(type='int', default=0),
    )
    return spec


def run_module(module):
    params = module.params
    if params['history'] < 0:
        raise InvalidInputError('history must be 0 or more, got %d' % params['history'])
    with current_state(OptionAdapter.from_ansible_module(module)) as (cache, snapshot):
        result = dict(changed=False, commit=snapshot.head, pools=report_pools(cache, snapshot, params['pool'], params['name']))
        if params['history']:
            result['events'] = inventory.read_events(snapshot, params['history'], params['pool'], params['name'])
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_by={'name': 'pool'},
        supports_check_mode=True,
    )
    run_ansible_module(module, run_module)


if __name__ == '__main__':
    main()

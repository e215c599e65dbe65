#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pool_lock
short_description: Claim, release, add, update and remove locks in a git lock pool
version_added: 0.1.0
description:
  - Changes the state of a lock in a pool kept in a git repository laid out as the Concourse pool-resource lays it out
    (C(<pool>/claimed/<lock>) and C(<pool>/unclaimed/<lock>)), so Concourse pipelines and playbooks can share one repository.
  - "Every change is one commit whose subject is the one Concourse writes (C(claiming: env-1), ...); who made it is recorded
    in C(Lock-Holder) and C(Lock-Team) trailers."
  - A change is pushed only on top of the state it was decided on; a lost push race is retried at once on fresh state.
  - Idempotent when O(holder) is given; see O(holder) for what happens without it.
author:
  - lockpool.git developers
extends_documentation_fragment:
  - lockpool.git.connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action_group:
    support: full
    membership:
      - lockpool.git.pool
options:
  pool:
    description:
      - The pool, a directory at the root of the repository.
    type: str
    required: true
  name:
    description:
      - The lock, a file in the pool.
      - Required unless O(state=claimed), where leaving it out claims any free lock of the pool.
    type: str
  state:
    description:
      - V(claimed) claims O(name), or a random free lock when O(name) is not given, waiting until one is free
        (Concourse C(acquire) and C(claim)). Claiming a lock that does not exist fails at once.
      - V(released) moves the lock back to unclaimed (Concourse C(release)).
      - V(present) adds the lock with O(metadata) (Concourse C(add), or C(add_claimed) with O(claimed=true)),
        or rewrites the metadata of an existing lock (Concourse C(update)), waiting while someone else holds it.
        The first lock added to a new pool creates the pool.
      - V(absent) removes the lock, claimed or not (Concourse C(remove)).
    type: str
    choices: [claimed, released, present, absent]
    default: claimed
  metadata:
    description:
      - The lock's metadata, written verbatim as the lock file's content.
      - A mapping or a list is written as YAML.
      - With O(state=present) and an existing lock, leaving it out keeps the metadata as it is.
    type: raw
  claimed:
    description:
      - With O(state=present), add a new lock already claimed by O(holder) (Concourse C(add_claimed)).
      - Has no effect on a lock that already exists.
    type: bool
    default: false
  holder:
    description:
      - Who holds the lock, recorded in the commit that claims it.
      - When given, claiming a lock this holder already holds changes nothing, and releasing or removing a lock held
        by someone else fails unless O(force=true).
      - When not given, the holder recorded is C(user@host), and it is never taken for the same holder as another run;
        claiming a claimed lock waits, and releasing works whoever holds the lock, as in Concourse.
      - The role M(lockpool.git.with_lock) always gives a holder unique to the play run.
    type: str
  team:
    description:
      - A team name recorded with the change, as the Pix4D fork of the pool-resource does.
    type: str
  force:
    description:
      - Release or remove a lock even though O(holder) is not the holder recorded for it.
    type: bool
    default: false
  wait:
    description:
      - Wait until the lock (or any lock of the pool) is free.
      - When V(false) and nothing is free, return RV(acquired=false) without changing anything.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait at most, for a free lock and for lost push races together; V(0) waits without limit, as Concourse does.
      - Accepts durations such as V(90s), V(10m), V(1h).
    type: raw
    default: 0
  retry_delay:
    description:
      - While nothing is free, how often the server is asked whether the branch moved (a cheap C(ls-remote), not a fetch).
      - Changes pushed from the same machine and cache are noticed within a tenth of a second whatever this says.
      - Accepts C(10s), C(90m), C(1h) or seconds.
    type: raw
    default: 10s
'''

EXAMPLES = r'''
- name: Reserve any environment of the aws pool, waiting at most 30 minutes
  lockpool.git.pool_lock:
    repo: git@github.com:example/locks.git
    pool: aws
    holder: "{{ awx_job_id | default(inventory_hostname) }}"
    timeout: 30m
  register: env

- name: Give it back
  lockpool.git.pool_lock:
    repo: git@github.com:example/locks.git
    pool: aws
    name: "{{ env.lock.name }}"
    holder: "{{ awx_job_id | default(inventory_hostname) }}"
    state: released

- name: Set the repository once for every lock task
  module_defaults:
    group/lockpool.git.pool:
      repo: https://git.example.com/infra/locks.git
      branch: main
  block:
    - name: Add an environment to the pool (creates the pool when it is new)
      lockpool.git.pool_lock:
        pool: aws
        name: env-3
        state: present
        metadata:
          region: eu-west-1
          url: https://env-3.example.com

    - name: Try to claim env-3 without waiting
      lockpool.git.pool_lock:
        pool: aws
        name: env-3
        wait: false
      register: claim

    - name: Remove env-1, whoever holds it
      lockpool.git.pool_lock:
        pool: aws
        name: env-1
        state: absent
'''

RETURN = r'''
lock:
  description: The lock after the operation. Null when O(name) was not given and nothing was acquired.
  returned: always
  type: dict
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
      description: V(claimed), V(unclaimed) or V(absent).
      type: str
      sample: claimed
    metadata:
      description: The lock file's content as text.
      type: str
      sample: "region: eu-west-1\n"
    data:
      description: The metadata parsed as YAML or JSON when it is a mapping or a list, else null.
      type: raw
      sample: {region: eu-west-1}
    holder:
      description: Who holds the lock (claimed locks only), from the commit that claimed it, written by Ansible or by Concourse.
      type: str
      sample: alice@ci-runner-3
    team:
      description: The team recorded with the claim, if any.
      type: str
    claimed_at:
      description: When the lock was claimed (ISO 8601, UTC), for claimed locks.
      type: str
      sample: "2026-11-23T09:41:07Z"
    age:
      description: Seconds since the commit that put the lock in its current state.
      type: int
    commit:
      description: The commit that put the lock in its current state.
      type: str
acquired:
  description: Whether the holder holds the lock after the task (O(state=claimed) only; false otherwise).
  returned: always
  type: bool
attempts:
  description: Push races lost before the change landed.
  returned: always
  type: int
waited:
  description: Seconds spent waiting for a lock to be free.
  returned: always
  type: float
commit:
  description: The commit pushed, or null when nothing was pushed.
  returned: always
  type: str
waiting_for:
  description: What the task would have waited for, when it did not wait (O(wait=false) or check mode).
  returned: when nothing was free
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockpool.git.plugins.module_utils import _operations as operations
from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC, remote_from_options
from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._holder import default_holder
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_bytes
from ansible_collections.lockpool.git.plugins.module_utils._options import OptionAdapter
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import run_ansible_module
from ansible_collections.lockpool.git.plugins.module_utils._repo_cache import RepoCache


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        pool=dict(type='str', required=True),
        name=dict(type='str'),
        state=dict(type='str', default='claimed', choices=['claimed', 'released', 'present', 'absent']),
        metadata=dict(type='raw'),
        claimed=dict(type='bool', default=False),
        holder=dict(type='str'),
        team=dict(type='str'),
        force=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        timeout=dict(type='raw', default=0),
        retry_delay=dict(type='raw', default='10s'),
    )
    return spec


def decider(params, request):
    state, name = params['state'], params['name']
    if state == 'claimed':
        return operations.claim_decider(request, name)
    if state == 'released':
        return operations.release_decider(request, name)
    if state == 'present':
        data = metadata_bytes(params['metadata']) if params['metadata'] is not None else None
        return operations.present_decider(request, name, data, params['claimed'])
    return operations.absent_decider(request, name)


def run_module(module):
    params = module.params
    request = operations.Request(
        pool=params['pool'],
        holder=params['holder'] or default_holder(),
        holder_given=bool(params['holder']),
        team=params['team'],
        force=params['force'],
        check_mode=module.check_mode,
        wait=params['wait'],
        timeout=parse_duration(params['timeout'], 'timeout'),
        poll_interval=max(parse_duration(params['retry_delay'], 'retry_delay'), 0.1),
    )
    decide = decider(params, request)
    with remote_from_options(OptionAdapter.from_ansible_module(module)) as remote:
        with RepoCache(remote) as cache:
            result = operations.execute(cache, request, decide, params['name'])
    if params['state'] == 'claimed':
        result['acquired'] = result['lock']['state'] == 'claimed' and result['waiting_for'] is None
        if not result['acquired'] and not params['name']:
            result['lock'] = None
    else:
        result['acquired'] = False
    if result['waiting_for'] is None:
        del result['waiting_for']
    if not module._diff:
        del result['diff']
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[('state', 'released', ['name']), ('state', 'present', ['name']), ('state', 'absent', ['name'])],
        supports_check_mode=True,
    )
    run_ansible_module(module, run_module)


if __name__ == '__main__':
    main()

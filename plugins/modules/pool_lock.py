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
notes:
  - On the controller (C(localhost), C(delegate_to=localhost), a local connection), the action plugin runs the module inside
    the task's worker process, with the same results, check mode and diff as in a process of its own, which it runs in
    everywhere else, and also with become, with the task's C(environment), as an async task, and when the controller's
    environment sets C(LOCKPOOL_IN_PROCESS=0).
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - lockpool.git.connection
  - lockpool.git.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  pool:
    description:
      - The pool, a directory at the root of the repository.
    type: str
    required: true
  name:
    description:
      - The lock, a file in the pool, or a list of locks (O(state=claimed) and O(state=released) only).
      - Required unless O(state=claimed), where leaving it out claims O(count) free locks of the pool.
      - A list is claimed or released all at once, in one commit, or not at all.
    type: raw
  count:
    description:
      - With O(state=claimed) and no O(name), how many free locks to claim, all at once in one commit or none.
      - One when not given.
    type: int
  match:
    description:
      - With O(state=claimed) and no O(name), claim only locks whose metadata, parsed as YAML or JSON, is a mapping
        that contains all these keys with these values (RV(lock.data)).
    type: dict
  lease:
    description:
      - With O(state=claimed), how long the claim is meant to last (V(30m), V(2h), seconds). It is recorded with the claim
        (a C(Lock-Lease-Expires) trailer), and M(lockpool.git.pool_reap) releases the lock once it has expired.
      - Claiming again locks O(holder) already holds, with a lease, renews it from now. A renewal is a ref outside the
        branch (under C(refs/lockpool/leases/)), so it never races with other claimers' pushes; where the server refuses
        such refs, it is a commit that changes no file, with a warning.
      - A claimed lock whose lease has run out is free. The next claim takes it over in one commit that changes no file and
        records the claim that expired (a C(Lock-Claim-Expired) trailer); its O(token) is larger, so the old holder's
        release or renewal with its token fails.
    type: raw
  keep_renewed:
    description:
      - With O(state=claimed), O(name), O(lease) and O(token) of locks O(holder) holds, keep renewing their lease every
        third of it until the claim is over (released, or taken over after it ran out) or the play that asked is gone
        (O(controller_process)); then the lease runs out by itself. Run it as an async task (C(async), C(poll=0)).
      - The role R(lockpool.git.with_lock,ansible_collections.lockpool.git.with_lock_role) starts one such task for the lock it holds.
    type: bool
    default: false
  controller_process:
    description:
      - The C(ansible-playbook) process this task belongs to (C(pid:start time)). The collection's action plugin sets it
        when the task runs on the controller (C(localhost), C(delegate_to=localhost), a local connection); leave it unset.
      - Once that process is gone (killed by any signal), a waiting task gives up within a second, claims nothing, leaves
        the fair queue and removes its temporary files; a claim that landed in that instant is released again; and
        O(keep_renewed) stops renewing.
      - Whatever sets it, the task also stops that way on SIGTERM, SIGINT and SIGHUP.
    type: str
  token:
    description:
      - The RV(lock.token) of one's claim (a mapping of lock name to token for several locks).
      - With O(state=released) (or a renewal), the task fails instead of releasing when that claim is over, for example
        because the lock was reaped and claimed by someone else.
    type: raw
  fair:
    description:
      - With O(state=claimed), wait in the pool's fair queue (refs under C(refs/lockpool/queue/), invisible to Concourse);
        locks are handed out in the order the fair claimers arrived, whether they run on this machine or elsewhere.
        See C(docs/leases-and-fairness.md) for what it costs.
      - With V(false), whoever looks first after a release wins, as in Concourse; a waiter can then starve behind
        claimers that notice releases sooner (for example runs sharing this machine's cache).
      - A server that refuses pushes to refs under C(refs/lockpool/) makes a fair claim wait unfairly, with a warning.
    type: bool
    default: true
  dirty:
    description:
      - With O(state=released), release the lock dirty; the play left its environment broken. A dirty lock is not handed
        out to claims (not even to its holder's) until a reset releases it; claim it with O(reset=true), repair it,
        and release that claim, which marks it clean. Releasing it without that claim needs O(force).
      - "The lock stays in C(claimed/) (a commit that changes no file, C(releasing dirty: env-1), with C(Lock-Dirty) and
        C(Lock-Dirty-Reason) trailers), so a Concourse pipeline sees it claimed and never takes it."
      - A dirty lock has no lease, so it never expires, and M(lockpool.git.pool_reap) never releases it.
      - With O(token), releasing dirty again the claim that was released dirty changes nothing.
      - See C(docs/dirty-locks.md).
    type: bool
    default: false
  dirty_reason:
    description:
      - With O(dirty=true), why the lock is dirty (the failed task, its message), shown by
        M(lockpool.git.pool_lock_info), the status page and the waits of claims. One line of at most 1000 characters is kept.
    type: str
  reset:
    description:
      - With O(state=claimed), claim dirty locks in order to reset them, O(name) or O(count) dirty locks of the pool
        (with O(match)). The claim has a token and a lease as any other; the lock stays dirty while it is held
        (RV(lock.state=dirty), RV(acquired=true)). Releasing that claim marks it clean and hands it out again;
        releasing it with O(dirty=true) keeps it dirty, with the new reason.
      - When the reset's holder is gone and its lease ran out, the next reset takes the lock over; plain claims never do.
      - A named lock that is not dirty is left alone (RV(acquired=false)); with no dirty lock, the claim waits like
        any claim (O(wait=false) returns at once). A reset never waits in the fair queue.
    type: bool
    default: false
  to_pool:
    description:
      - With O(state=moved), the pool O(name) moves to, in one commit, metadata kept; it arrives unclaimed.
    type: str
  state:
    description:
      - V(claimed) claims O(name), or a random free lock when O(name) is not given, waiting until one is free
        (Concourse C(acquire) and C(claim)). Claiming a lock that does not exist fails at once.
      - V(released) moves the lock back to unclaimed (Concourse C(release)), or with O(dirty) leaves it dirty.
        V(released), V(absent) and a claim by O(name) act on a lock
        that is in the pool whatever its name (Concourse may add locks named C(head) or C(-x)); a claim of any lock never picks one
        whose name has a control character.
      - V(present) adds the lock with O(metadata) (Concourse C(add), or C(add_claimed) with O(claimed=true)),
        or rewrites the metadata of an existing lock (Concourse C(update)), waiting while someone else holds it.
        The holder (O(holder) given) may update its own claimed lock, and keeps its claim (token, lease), which Concourse's C(update) never does.
        The first lock added to a new pool creates the pool, in a commit before the lock's own (so that Concourse's C(in) names the lock);
        in an empty repository (no commit yet) it also creates the branch.
        A lock name that Concourse's C(in) cannot read (white space, non-ASCII, a quote, a backslash, C(*), C(?), C([)) is refused
        in a pool where Concourse writes (an executable lock file) and added with a warning elsewhere.
      - V(absent) removes the lock, claimed or not (Concourse C(remove)).
      - V(moved) moves the lock to O(to_pool). A claimed lock is moved (and released) only by its holder or with O(force);
        another holder's claim is waited for. A lock already in O(to_pool) and gone from O(pool) is not moved again (no change).
      - A change that would leave C(claimed/) or C(unclaimed/) of a pool empty writes the C(.gitkeep) that keeps it, and a pool
        whose directory lacks one of them (git keeps no empty directory) is read as a pool with that half empty.
    type: str
    choices: [claimed, released, present, absent, moved]
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
      - The role R(lockpool.git.with_lock,ansible_collections.lockpool.git.with_lock_role) always gives a holder unique to the play run.
    type: str
  team:
    description:
      - A team name recorded with the change, as the Pix4D fork of the pool-resource does.
    type: str
  job:
    description:
      - The job that claims, recorded with the claim as a C(Lock-Job) trailer, e.g. V(awx 1234);
        M(lockpool.git.pool_reap) with O(lockpool.git.pool_reap#module:awx_url) asks AWX whether it still runs.
      - "With O(state=claimed) only; recorded in each claim commit, one trailer per lock (C(Lock-Job: aws/env-1 awx 1234))."
      - The role R(lockpool.git.with_lock,ansible_collections.lockpool.git.with_lock_role) sets it to V(awx <awx_job_id>) when it runs under AWX.
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
        The runs waiting on one machine with the same O(cache_dir) share each such look.
      - Changes pushed from the same machine and cache are noticed within a tenth of a second whatever this says.
      - In the fair queue a waiter asks more often the nearer it is to the head (every 2.5s at the head, 5s second
        in line, and so on up to this).
      - Accepts C(10s), C(90m), C(1h) or seconds.
    type: raw
    default: 10s
  prometheus_push_gateway:
    description:
      - URL of a Prometheus Pushgateway (for example V(http://pushgateway:9091)) to push this run's metrics to
        when it ends, whatever its outcome. These are the C(resource_pool_*) metrics of the Pix4D fork of the
        pool-resource, and ours (C(lockpool_*)) with wait time, push races lost, outcome, and the runs waiting
        for a lock right now.
      - While the task waits for a lock, it keeps its own group on the gateway up to date (every 5 seconds)
        and deletes it when it stops waiting.
      - A push that fails is a warning; it never fails the task.
      - Nothing is pushed in check mode.
      - Nothing the gateway does holds the task up for long; all the requests of the task's end take 2 seconds at
        most together, within what is left of O(timeout) (a run that timed out still gets half a second).
      - Credentials written into the URL (V(http://user:password@pushgateway:9091)) are sent as HTTP basic auth,
        never in the URL, and masked in the task's output; prefer O(prometheus_push_gateway_username) and
        O(prometheus_push_gateway_password), which are used instead when given.
      - If not set, the environment variable E(LOCKPOOL_PROMETHEUS_PUSH_GATEWAY) is used.
      - Needs the Python library C(prometheus-client). See C(docs/metrics.md) for every metric and label.
    type: str
  prometheus_push_gateway_username:
    description:
      - The user name for the Pushgateway's HTTP basic auth (its C(--web.config.file) C(basic_auth_users)).
      - If not set, the environment variable E(LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_USERNAME) is used.
    type: str
  prometheus_push_gateway_password:
    description:
      - The password for the Pushgateway's HTTP basic auth, with O(prometheus_push_gateway_username).
      - "Never shown: not in results, not in C(-vvv) output, not in warnings."
      - If not set, the environment variable E(LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_PASSWORD) is used.
    type: str
  prometheus_job:
    description:
      - The C(job) the metrics are pushed under. The Pix4D fork uses V(concourse_resource_pool).
    type: str
    default: lockpool
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

    - name: Claim two environments in Europe at once, for two hours, in arrival order
      lockpool.git.pool_lock:
        pool: aws
        count: 2
        match: {region: eu-west-1}
        lease: 2h
        holder: "{{ awx_job_id }}"
      register: envs

    - name: Give both back, unless the claim was reaped in the meantime
      lockpool.git.pool_lock:
        pool: aws
        name: "{{ envs.locks | map(attribute='name') | list }}"
        token: "{{ envs.locks | items2dict(key_name='name', value_name='token') }}"
        holder: "{{ awx_job_id }}"
        state: released

    - name: Give env-3 back dirty, after a failed deployment broke it
      lockpool.git.pool_lock:
        pool: aws
        name: env-3
        token: "{{ claim.lock.token }}"
        state: released
        dirty: true
        dirty_reason: "deploy failed: {{ deploy_error }}"
      when: claim.acquired and deploy_error is defined

    - name: Claim a dirty environment to reset it, if there is one
      lockpool.git.pool_lock:
        pool: aws
        reset: true
        lease: 30m
        wait: false
      register: broken

    - name: Move env-3 to the pool of environments to rebuild
      lockpool.git.pool_lock:
        pool: aws
        name: env-3
        state: moved
        to_pool: aws-dirty

    - name: Remove env-1, whoever holds it
      lockpool.git.pool_lock:
        pool: aws
        name: env-1
        state: absent
'''

RETURN = r'''
lock:
  description:
    - The lock after the operation. Null when O(name) was not given and nothing was acquired.
    - In check mode, a claim that would succeed returns the lock a real run would claim, as it is now (unclaimed).
      Without O(name) it is one of the free locks, and a real run may take another.
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
      description:
        - V(claimed), V(unclaimed), V(absent), or V(dirty) for a claimed lock that was released dirty (O(dirty)) or
          that a reset holds (O(reset)).
      type: str
      sample: claimed
    dirty_reason:
      description: Why the lock is dirty (O(dirty_reason)); null when none was given.
      returned: when the lock is dirty
      type: str
      sample: "deploy failed: timeout waiting for the load balancer"
    dirty_by:
      description: Who released the lock dirty (its holder then).
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
      description: When it was released dirty (ISO 8601, UTC).
      returned: when the lock is dirty
      type: str
    resetting:
      description: Whether a reset holds the dirty lock now (RV(lock.holder) is who resets it).
      returned: when the lock is dirty
      type: bool
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
    token:
      description:
        - The fencing token of the claim that holds the lock, greater than the token of every earlier claim of it;
          null when unclaimed or claimed by Concourse. Pass it as O(token) to release only while this claim is current.
      type: int
      sample: 42
    expires_at:
      description: When the claim's lease ends (ISO 8601, UTC), or null when it has none.
      type: str
      sample: "2026-11-23T10:11:07Z"
    expired:
      description: Whether the claim's lease has ended (M(lockpool.git.pool_reap) releases such a lock).
      type: bool
locks:
  description:
    - Every lock the task is about, each as RV(lock).
    - Several when O(name) is a list or O(count) is more than 1. Empty when a claim without O(name) acquired nothing.
  returned: always
  type: list
  elements: dict
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
  description: The commit pushed, or null when nothing was pushed (a lease renewed by a ref pushes no commit).
  returned: always
  type: str
renewals:
  description: With O(keep_renewed), how many times the lease was renewed.
  returned: with O(keep_renewed)
  type: int
ended:
  description: With O(keep_renewed), why it stopped renewing (the claim is over, or the play is gone).
  returned: with O(keep_renewed)
  type: str
waiting_for:
  description: What the task would have waited for, when it did not wait (O(wait=false) or check mode).
  returned: when nothing was free
  type: str
'''

import functools

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC
from ansible_collections.lockpool.git.plugins.module_utils._metrics import DEFAULT_JOB, HAS_PROMETHEUS_CLIENT, PROMETHEUS_CLIENT_IMPORT_ERROR
from ansible_collections.lockpool.git.plugins.module_utils._operations import OPERATIONS
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import change_state, run_ansible_module


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        pool=dict(type='str', required=True),
        name=dict(type='raw'),
        count=dict(type='int'),
        match=dict(type='dict'),
        lease=dict(type='raw'),
        token=dict(type='raw', no_log=False),
        fair=dict(type='bool', default=True),
        dirty=dict(type='bool', default=False),
        dirty_reason=dict(type='str'),
        reset=dict(type='bool', default=False),
        to_pool=dict(type='str'),
        state=dict(type='str', default='claimed', choices=list(OPERATIONS)),
        metadata=dict(type='raw'),
        claimed=dict(type='bool', default=False),
        holder=dict(type='str'),
        team=dict(type='str'),
        job=dict(type='str'),
        keep_renewed=dict(type='bool', default=False),
        controller_process=dict(type='str'),
        force=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        timeout=dict(type='raw', default=0),
        retry_delay=dict(type='raw', default='10s'),
        prometheus_push_gateway=dict(type='str', fallback=(env_fallback, ['LOCKPOOL_PROMETHEUS_PUSH_GATEWAY'])),
        prometheus_push_gateway_username=dict(type='str', fallback=(env_fallback, ['LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_USERNAME'])),
        prometheus_push_gateway_password=dict(type='str', no_log=True,
                                              fallback=(env_fallback, ['LOCKPOOL_PROMETHEUS_PUSH_GATEWAY_PASSWORD'])),
        prometheus_job=dict(type='str', default=DEFAULT_JOB),
    )
    return spec


def main(observer=None):
    """``observer`` (a transaction.Observer) replaces the metrics; tests use it to park a run at a phase."""
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[('state', state, operation.required) for state, operation in OPERATIONS.items() if operation.required],
        supports_check_mode=True,
    )
    if module.params['prometheus_push_gateway'] and not HAS_PROMETHEUS_CLIENT:
        module.fail_json(msg=missing_required_lib('prometheus-client'), exception=str(PROMETHEUS_CLIENT_IMPORT_ERROR))
    operation = OPERATIONS[module.params['state']]
    run_ansible_module(module, functools.partial(change_state, operation_class=operation, observer=observer))


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pool_reap
short_description: Release the stale claims of a git lock pool
version_added: 0.1.0
description:
  - Releases, in one commit, every claimed lock of O(pool) whose lease (M(lockpool.git.pool_lock) O(lockpool.git.pool_lock#module:lease))
    has expired and, with O(older_than), every claimed lock claimed longer ago than that.
  - A claim without a lease, a claim made by Concourse included, is only released by O(older_than), never by default.
  - "Smart reaping: with O(awx_url), the claims that record an AWX job (C(Lock-Job: aws/env-1 awx 1234), see
    M(lockpool.git.pool_lock) O(lockpool.git.pool_lock#module:job)) are released once AWX says that job is over;
    with O(concourse_url), the claims Concourse made (C(main/deploy/deploy-aws build 42 claiming: env-1), or a
    C(Build URL:)) once Concourse says that build is over. See C(docs/reaping.md)."
  - A claim whose system cannot tell (unreachable, a refused token, an answer it cannot read) is not released for its
    job; RV(unknown) and a warning say why, and O(older_than) still applies.
  - "The commit has Concourse's release subject (C(unclaiming: env-1, env-2)) and one C(Lock-Reaped) trailer per lock
    saying why. It is pushed only on top of the state it was decided on, like every other change."
  - The fencing token of a reaped claim is over, so its holder's later release with O(lockpool.git.pool_lock#module:token) fails.
  - A dirty lock (released with O(lockpool.git.pool_lock#module:dirty), or held by a reset) is never released, however old;
    it is not stale but broken, and only a reset's claim (O(lockpool.git.pool_lock#module:reset)) makes it clean.
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
  awx_url:
    description:
      - The URL of AWX or Automation Controller (V(https://awx.example.com)). Given, each claim that records an AWX job
        is released when C(GET <awx_url>/api/v2/jobs/<id>/) says that job is over (C(status) successful, failed,
        error or canceled), or answers 404 (the job is gone); a job that is new, pending, waiting or running keeps its claim.
      - A 404 counts as gone only when C(GET <awx_url>/api/v2/ping/) answers with a version, so that a wrong URL never
        has every job taken for gone.
    type: str
  awx_token:
    description:
      - "An AWX OAuth2 token that can read the jobs (a read-scoped personal access token will do), sent as
        C(Authorization: Bearer <token>) to O(awx_url) only, never shown."
      - Taken from the E(LOCKPOOL_AWX_TOKEN) environment variable when not given.
    type: str
  concourse_url:
    description:
      - The URL of Concourse (its C(ATC_EXTERNAL_URL), V(https://ci.example.com)). Given, each claim Concourse made is
        released when C(GET <concourse_url>/api/v1/teams/<team>/pipelines/<pipeline>/jobs/<job>/builds/<build>) says
        that build is over (C(status) succeeded, failed, errored or aborted), or answers 404 (it is gone); a build that is
        pending or started keeps its claim. A 404 counts as gone only when C(GET <concourse_url>/api/v1/info) answers with
        a version.
      - A claim whose C(Build URL) names another server, that names no team (pool-resource before v1.0.1), or whose
        subject names instance vars (v1.7.1 and v1.7.2) cannot be asked about (RV(unknown)).
    type: str
  concourse_token:
    description:
      - A Concourse bearer token that can read the builds of the teams whose claims are reaped (as C(fly) keeps in
        C(~/.flyrc)), sent to O(concourse_url) only, never shown. Not needed for exposed pipelines.
      - Taken from the E(LOCKPOOL_CONCOURSE_TOKEN) environment variable when not given.
    type: str
  job_api_ssl_verify:
    description:
      - Verify the TLS certificate of O(awx_url) and O(concourse_url).
    type: bool
    default: true
notes:
  - Redirects from O(awx_url) or O(concourse_url) are not followed (the token would go along); give the URL the API answers at.
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

- name: Also release the claims of AWX jobs and Concourse builds that are over
  lockpool.git.pool_reap:
    repo: git@github.com:example/locks.git
    pool: aws
    awx_url: https://awx.example.com
    awx_token: "{{ lookup('ansible.builtin.env', 'AWX_READ_TOKEN') }}"
    concourse_url: https://ci.example.com
    # concourse_token from LOCKPOOL_CONCOURSE_TOKEN
  register: reaped

- name: Say which claims could not be asked about
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.job }}): {{ item.why }}"
  loop: "{{ reaped.unknown }}"
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
      description:
        - V(lease-expired), V(job-finished) (its job's system said the job is over) or V(older-than).
      type: str
    job:
      description:
        - The job the claim was made for (V(awx 1234), V(main/deploy/deploy-aws build 42)), when its system was asked.
      type: str
      returned: when O(awx_url) or O(concourse_url) names the claim's system
    job_status:
      description:
        - What that system said of the job (V(successful), V(aborted), ..., V(gone) for a 404), or null when it could not tell.
      type: str
      returned: when O(awx_url) or O(concourse_url) names the claim's system
unknown:
  description:
    - The claims kept although their job may be over, because its system could not tell; each is also a warning.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The lock.
      type: str
    job:
      description: The job the claim was made for.
      type: str
    system:
      description: V(awx) or V(concourse).
      type: str
    why:
      description: Why the system could not tell (no secret in it).
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

from ansible.module_utils.basic import AnsibleModule, env_fallback

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
        awx_url=dict(type='str'),
        awx_token=dict(type='str', no_log=True, fallback=(env_fallback, ['LOCKPOOL_AWX_TOKEN'])),
        concourse_url=dict(type='str'),
        concourse_token=dict(type='str', no_log=True, fallback=(env_fallback, ['LOCKPOOL_CONCOURSE_TOKEN'])),
        job_api_ssl_verify=dict(type='bool', default=True),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_ansible_module(module, functools.partial(change_state, operation_class=Reap))


if __name__ == '__main__':
    main()

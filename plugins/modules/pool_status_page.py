#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pool_status_page
short_description: Write one self-contained HTML status page of the pools of a git lock pool
version_added: 0.1.0
description:
  - Reads a lock repository as M(lockpool.git.pool_lock_info) reads it and writes one HTML page for people to look at
    every pool, each lock's state (free, claimed, dirty), holder, team, age and lease left, the fair queue, the
    last lock events, and a chart of how busy each pool was over the events read.
  - The page has its style inline, no script and no links to fetch, and reads on a phone. Every text read from the
    repository is escaped.
  - The page is written again only when what it shows changed, not because time passed; see O(dest).
  - Never changes the lock repository.
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - lockpool.git.connection
  - ansible.builtin.files
attributes:
  check_mode:
    description: Says whether the page would be written, and writes nothing.
    support: full
  diff_mode:
    description: Returns the page's HTML before and after.
    support: full
options:
  dest:
    description:
      - The HTML file to write. Its directory must exist.
      - The page records the time it speaks of. The file is left as it is (and the task reports no change) when the
        pools, read now, would give the same page for that time; ages and leases left are then as of that time,
        which the page shows. A lease running out, a claim, a release or a new event changes the page.
    type: path
    required: true
  pools:
    description:
      - The pools to show. Every pool of the repository when not given. A pool that does not exist fails the task.
    type: list
    elements: str
  history:
    description:
      - How many of the newest lock events of the pools shown to read, for the list of last events and the busy charts
        (which cover the time from the oldest of them to now). V(0) reads none, and the page has no chart.
    type: int
    default: 100
  title:
    description: The page's title.
    type: str
    default: Lock pools
notes:
  - Not in the C(lockpool.git.pool) action group, whose defaults usually set O(lockpool.git.pool_lock#module:pool) and
    O(lockpool.git.pool_lock#module:holder), options this module does not take. Give it the connection options, or set
    the C(LOCKPOOL_*) environment variables.
seealso:
  - module: lockpool.git.pool_lock_info
'''

EXAMPLES = r'''
- name: Publish the status of every pool
  lockpool.git.pool_status_page:
    repo: git@github.com:example/locks.git
    dest: /var/www/html/locks/index.html
    mode: "0644"

- name: Only the aws and gcp pools, with the last 500 events
  lockpool.git.pool_status_page:
    repo: git@github.com:example/locks.git
    dest: "{{ playbook_dir }}/public/locks.html"
    pools: [aws, gcp]
    history: 500
    title: Test environments
  register: page

- name: Publish it only when it changed
  ansible.builtin.command: rsync public/locks.html web:/srv/locks/
  when: page.changed
'''

RETURN = r'''
dest:
  description: The file written.
  returned: always
  type: str
  sample: /var/www/html/locks/index.html
commit:
  description: The commit of the branch that was read.
  returned: always
  type: str
generated_at:
  description: The time the page at O(dest) speaks of (ISO 8601, UTC); an older time when the page was left as it was.
  returned: always
  type: str
  sample: "2026-11-23T09:41:07Z"
pools:
  description: The pools the page shows.
  returned: always
  type: list
  elements: str
  sample: [aws, gcp]
events:
  description: How many lock events were read.
  returned: always
  type: int
'''

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._connection import CONNECTION_ARGUMENT_SPEC
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._options import OptionAdapter
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import current_state, run_ansible_module
from ansible_collections.lockpool.git.plugins.module_utils._pool_report import report_pools
from ansible_collections.lockpool.git.plugins.module_utils._status_page import page_time, render_page
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        dest=dict(type='path', required=True),
        pools=dict(type='list', elements='str'),
        history=dict(type='int', default=100),
        title=dict(type='str', default='Lock pools'),
    )
    return spec


def read_repository(module):
    """(pools, events, repo as shown, branch, commit) read as pool_lock_info reads them."""
    params = module.params
    with current_state(OptionAdapter.from_ansible_module(module)) as (cache, snapshot):
        if params['pools'] is None:
            pools = report_pools(cache, snapshot)
            events = inventory.read_events(snapshot, params['history']) if params['history'] else []
        else:
            pools, events = {}, []
            for pool in dict.fromkeys(params['pools']):
                pools.update(report_pools(cache, snapshot, pool))
                if params['history']:
                    events.extend(inventory.read_events(snapshot, params['history'], pool))
            # the newest ``history`` of the pools' events together, newest first
            events = sorted(events, key=lambda event: event['time'], reverse=True)[:params['history']]
        return pools, events, cache.remote.display_url, cache.remote.branch, snapshot.head


def read_page(dest):
    """The text of the page at ``dest``, or None when there is none."""
    if not os.path.exists(dest):
        return None
    if os.path.isdir(dest):
        raise InvalidInputError('dest %s is a directory; name the HTML file to write' % dest)
    with open(dest, 'rb') as handle:
        return handle.read().decode('utf-8', 'replace')


def write_page(module, dest, text):
    handle, path = tempfile.mkstemp(dir=module.tmpdir, suffix='.html')
    with os.fdopen(handle, 'wb') as written:
        written.write(text.encode('utf-8'))
    module.atomic_move(path, dest, unsafe_writes=module.params['unsafe_writes'])


def run_module(module):
    params = module.params
    if params['history'] < 0:
        raise InvalidInputError('history must be 0 or more, got %d' % params['history'])
    dest = params['dest']
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        raise InvalidInputError('the directory of dest %s does not exist' % dest)
    old = read_page(dest)
    pools, events, repo, branch, commit = read_repository(module)

    def page(moment):
        return render_page(pools, events, moment, params['title'], repo, branch, commit, params['history'])

    # The old page made again from what is read now, for the time it speaks of: equal, only time passed.
    old_time = page_time(old)
    if old_time is not None and page(old_time) == old:
        changed, shown_time = False, old_time
    else:
        changed, shown_time = True, int(time.time())
    result = dict(changed=changed, dest=dest, commit=commit, generated_at=utc_text(shown_time), pools=sorted(pools),
                  events=len(events))
    if changed:
        new = page(shown_time)
        if module._diff:
            result['diff'] = dict(before=old or '', after=new, before_header=dest, after_header=dest)
        if not module.check_mode:
            write_page(module, dest, new)
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(params, path=dest)
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_ansible_module(module, run_module)


if __name__ == '__main__':
    main()

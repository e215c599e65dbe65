# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: pool_lock
short_description: The metadata of locks in a git lock pool
version_added: 0.1.0
description:
  - Returns the metadata of each lock named in the terms, as the Concourse pool-resource's C(in) step hands it to a build.
  - A term is a lock of O(pool), or C(pool/lock).
  - Runs on the controller and reads the repository through the same cache and the same connection options as the
    modules; the cache is fetched only when the branch moved on the server.
  - Each evaluation asks the server where the branch is (one C(git ls-remote)), unless O(max_age) lets a recent
    read serve.
author:
  - lockpool.git developers (!UNKNOWN)
extends_documentation_fragment:
  - lockpool.git.connection
options:
  _terms:
    description: Locks, each a name in O(pool) or C(pool/lock).
    required: true
    type: list
    elements: str
  pool:
    description:
      - The pool of the terms that do not name one.
    type: str
  parse:
    description:
      - When V(true), metadata that is YAML or JSON (a mapping or a list) is returned as data, and any other metadata as text.
      - When V(false), the metadata is returned as the text of the lock file.
    type: bool
    default: true
  max_age:
    description:
      - Serve the branch as a lookup on this machine read it from the server at most this long ago, instead of
        asking the server again. The read is shared through the cache directory, by every play on the machine; a
        change made meanwhile, even from this machine, shows once the read is older than that.
      - Seconds, or a duration such as V(30s), V(5m).
      - Unset, every evaluation asks the server.
    type: raw
notes:
  - Each evaluation asks the server where the branch is (one C(git ls-remote); over ssh, a connection of its own).
    Ansible evaluates a lookup each time a template uses it. A lookup in a play's or a task's C(vars) is evaluated
    wherever that variable is used, and a task may use it several times (its name, its arguments, its conditions).
  - To read once per play, set the variable with M(ansible.builtin.set_fact) in a first task (see C(docs/reading-pools.md)),
    or give O(max_age) for as long as the play may use one read.
'''

EXAMPLES = r'''
- name: Deploy to the environment described by env-1 of the aws pool
  ansible.builtin.debug:
    msg: "{{ lookup('lockpool.git.pool_lock', 'env-1', pool='aws', repo='git@github.com:example/locks.git').url }}"

- name: Two locks of two pools at once, from the repository in LOCKPOOL_REPO
  ansible.builtin.debug:
    msg: "{{ query('lockpool.git.pool_lock', 'aws/env-1', 'gcp/env-7') }}"

- name: The lock file exactly as it is
  ansible.builtin.copy:
    content: "{{ lookup('lockpool.git.pool_lock', 'aws/env-1', parse=false, repo=lock_repo) }}"
    dest: /etc/env.yml
'''

RETURN = r'''
_raw:
  description:
    - The metadata of each lock, in the order of the terms.
    - Data when O(parse=true) and the metadata is a YAML or JSON mapping or list, else text.
  type: list
  elements: raw
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._connection import connection_options
from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError
from ansible_collections.lockpool.git.plugins.module_utils._metadata import metadata_text, parse_metadata
from ansible_collections.lockpool.git.plugins.module_utils._options import OptionAdapter
from ansible_collections.lockpool.git.plugins.module_utils._plugin_runner import current_state, missing_library


def pool_and_name(term, pool):
    """(pool, lock) of a term: ``pool/lock``, or a lock of ``pool``."""
    if '/' in term:
        return tuple(term.split('/', 1))
    if not pool:
        raise AnsibleLookupError("lock '%s' names no pool: give pool= or write it as POOL/%s" % (term, term))
    return pool, term


def metadata(raw, parse):
    data = parse_metadata(raw) if parse else None
    return metadata_text(raw) if data is None else data


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        # The connection options are completed as the modules' are (LOCKPOOL_* variables, defaults, types), then
        # handed to Ansible as given.
        try:
            kwargs.update(connection_options(kwargs))
        except LockpoolError as exc:
            raise AnsibleLookupError(str(exc))
        self.set_options(var_options=variables, direct=kwargs)
        missing = missing_library()
        if missing:
            raise AnsibleLookupError(missing[0], orig_exc=missing[1])
        wanted = [pool_and_name(term, self.get_option('pool')) for term in terms]
        if not wanted:
            return []
        results = []
        pool, name = wanted[0]
        try:
            max_age = self.get_option('max_age')
            max_age = None if max_age is None else parse_duration(max_age, 'max_age')
            with current_state(OptionAdapter.from_ansible_plugin(self), max_age) as (_cache, snapshot):
                for pool, name in wanted:
                    lock_file = inventory.existing_lock(snapshot, pool, name)
                    results.append(metadata(snapshot.read(lock_file), self.get_option('parse')))
        except LockpoolError as exc:
            raise AnsibleLookupError("cannot read lock '%s' of pool '%s': %s" % (name, pool, exc))
        return results

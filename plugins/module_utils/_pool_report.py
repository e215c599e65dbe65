# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pool_lock_info shows of the pools: the inventory's locks, each claim's token and lease, each pool's queue."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils._leases import claim_fields
from ansible_collections.lockpool.git.plugins.module_utils._layout import CLAIMED
from ansible_collections.lockpool.git.plugins.module_utils._queue import describe_queues

_UNCLAIMED_FIELDS = dict(token=None, expires_at=None, expired=False)


def report_pools(cache, snapshot, pool=None, name=None):
    """{pool: {available, claimed, locks, problems, queue}} for one pool or all of them, or for one lock of one pool."""
    pools = inventory.read_pools(snapshot, pool, name)
    queues = describe_queues(cache, list(pools))
    for pool_name, found in pools.items():
        found['queue'] = queues[pool_name]
        for lock in found['locks']:
            lock.update(_claim_of(snapshot, lock))
    return pools


def _claim_of(snapshot, lock):
    if lock['state'] != CLAIMED:
        return _UNCLAIMED_FIELDS
    return claim_fields(snapshot, snapshot.pool(lock['pool']).claimed[lock['name']])

"""One contending holder: acquires and releases a lock of a pool again and again through pool_lock's code path.

Each acquisition is recorded in an event log shared by all contenders (one O_APPEND write per event,
so the file order is the order the events happened in): ``enter <lock> <id>`` once the acquire
returned, ``leave <lock> <id>`` before the release starts (one event per lock when it claims several). The log is the independent record that
tests read to prove no lock ever had two holders.

Usage: contender.py ID CYCLES LOG_FILE JSON_MODULE_ARGS [HOLD_SECONDS]

Each acquisition is held HOLD_SECONDS, or a random 0 to 20 ms.
"""

import contextlib
import io
import json
import os
import random
import sys
import time

from ansible.module_utils.testing import patch_module_args

from ansible_collections.lockpool.git.plugins.modules import pool_lock


def run_pool_lock(args):
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        try:
            pool_lock.main()
        except SystemExit:
            pass
    result = json.loads(output.getvalue())
    if result.get('failed'):
        raise SystemExit('pool_lock failed: %s' % result['msg'])
    return result


def record(log, event, lock, holder_id):
    os.write(log, ('%s %s %s\n' % (event, lock, holder_id)).encode())


def main(holder_id, cycles, log_path, module_args, hold=None):
    args = dict(module_args, holder='contender-%s' % holder_id)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for _cycle in range(cycles):
        acquired = run_pool_lock(args)
        locks = [lock['name'] for lock in acquired['locks']]
        for lock in locks:
            record(log, 'enter', lock, holder_id)
        time.sleep(random.uniform(0, 0.02) if hold is None else hold)
        for lock in locks:
            record(log, 'leave', lock, holder_id)
        released = run_pool_lock(dict(args, name=locks, state='released'))
        if not released['changed']:
            raise SystemExit('release of %s by contender %s changed nothing' % (', '.join(locks), holder_id))
    os.close(log)


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), *[float(hold) for hold in sys.argv[5:6]])

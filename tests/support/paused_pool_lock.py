"""pool_lock as Ansible runs it, parked at one phase of its transaction so that a test can kill it there.

Usage: paused_pool_lock.py PHASE ARGS_FILE, PHASE one of before-commit, after-commit, after-push. The run
says ``lockpool: paused at PHASE`` on stderr and sleeps PAUSE_SECONDS there; it changes nothing a run does, only when.
"""

import os
import sys
import time

from ansible_collections.lockpool.git.plugins.module_utils._transaction import Observer
from ansible_collections.lockpool.git.plugins.modules import pool_lock

PAUSE_SECONDS = 60


class PauseAt(Observer):
    def __init__(self, phase):
        self.phase = phase

    def reached(self, phase):
        if phase == self.phase:
            os.write(2, ('lockpool: paused at %s\n' % phase).encode('ascii'))
            time.sleep(PAUSE_SECONDS)


if __name__ == '__main__':
    phase, sys.argv[1:] = sys.argv[1], sys.argv[2:]
    pool_lock.main(observer=PauseAt(phase))

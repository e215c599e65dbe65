# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long a task may go on: while nobody stopped it and the controller that asked for it lives.

Schedulers stop a play by killing ``ansible-playbook``'s process group (ansible-runner,
and AWX through it, send SIGINT or SIGTERM, then SIGKILL). Ansible's workers call
``setsid()`` and async tasks are daemonized, so the module a task runs is not in that
group and would go on waiting, and later claim, for a play that is gone. So a task is
bound to the controller process that asked for it (the action plugin names it: the
worker's parent), and to the signals it gets itself: once either says stop, a wait ends
at its next look (every LOOK_EVERY seconds at most), the task claims nothing, and what
it set up (queue ticket, temporary credentials) is undone as its context managers exit.

A stop is only noticed where the engine looks (``check``, and every sleep of a wait):
never in the middle of a push, so a run always knows whether its change landed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import signal
import time

from ansible_collections.lockpool.git.plugins.module_utils._errors import TaskStoppedError

LOOK_EVERY = 1.0  # seconds between two looks at the controller process
STOP_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGHUP')


class Lifetime(object):
    """Whether the task may go on: not stopped by a signal, and its controller (a ProcessIdentity, or None) alive."""

    def __init__(self, controller=None, clock=time.monotonic, sleep=time.sleep):
        self.controller = controller
        self.clock = clock
        self._sleep = sleep
        self.stopped = None  # why the task must stop, once it must
        self._looked_at = None

    @contextlib.contextmanager
    def signals_stop(self):
        """While inside, SIGTERM, SIGINT and SIGHUP mark the task stopped instead of killing it on the spot,
        so that it cleans up on its way out; a second signal changes nothing."""
        previous = {}
        for name in STOP_SIGNALS:
            number = getattr(signal, name)
            previous[number] = signal.signal(number, self._on_signal)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number, _frame):
        if self.stopped is None:
            self.stopped = 'it was stopped by %s' % signal.Signals(number).name

    def must_stop(self, look_now=False):
        """Why the task must stop now, or None; looks at the controller at most every LOOK_EVERY seconds (or now)."""
        if self.stopped is None and self.controller is not None:
            now = self.clock()
            if look_now or self._looked_at is None or now - self._looked_at >= LOOK_EVERY:
                self._looked_at = now
                if not self.controller.alive():
                    self.stopped = 'the ansible-playbook process %d that ran it is gone' % self.controller.pid
        return self.stopped

    def check(self):
        """Raise TaskStoppedError when the task must stop."""
        reason = self.must_stop()
        if reason:
            raise TaskStoppedError('gave up: %s' % reason)

    def sleep(self, seconds):
        """Sleep ``seconds``, in slices no longer than LOOK_EVERY; raises TaskStoppedError as soon as the task must stop."""
        end = self.clock() + seconds
        while True:
            self.check()
            left = end - self.clock()
            if left <= 0:
                return
            self._sleep(min(left, LOOK_EVERY))


UNBOUND = Lifetime()  # a task that only its own end stops

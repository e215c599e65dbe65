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
import errno
import os
import signal
import time

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError, TaskStoppedError

LOOK_EVERY = 1.0  # seconds between two looks at the controller process
STOP_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGHUP')


class ControllerProcess(object):
    """One process, told apart from a later one that reuses its pid by its start time (Linux: /proc)."""

    def __init__(self, pid, started=None):
        self.pid = pid
        self.started = started

    @classmethod
    def of(cls, pid):
        """The process ``pid`` as it is now."""
        return cls(pid, _start_time(pid))

    @classmethod
    def parse(cls, text):
        """The process named by ``describe()``'s ``pid:start`` (``pid`` alone where there is no /proc)."""
        pid, _sep, started = str(text).partition(':')
        try:
            return cls(int(pid), int(started) if started else None)
        except ValueError:
            raise InvalidInputError('controller_process must be pid:start as the action plugin sets it, got %r' % (text,))

    def describe(self):
        return '%d:%d' % (self.pid, self.started) if self.started is not None else str(self.pid)

    def alive(self):
        """False once the process has ended (a zombie has ended) or its pid names another process."""
        if self.started is not None or os.path.exists('/proc/%d' % self.pid):
            state = _proc_stat(self.pid)
            return state is not None and state[0] not in 'ZX' and (self.started is None or state[1] == self.started)
        return process_exists(self.pid)


def process_exists(pid):
    """Whether a process ``pid`` exists, whoever runs it (no /proc needed)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _proc_stat(pid):
    """(state letter, start time in clock ticks since boot) of ``pid`` from /proc, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    fields = text[text.rindex(')') + 2:].split()  # the command name, in parentheses, may contain spaces
    return fields[0], int(fields[19])


def _start_time(pid):
    state = _proc_stat(pid)
    return state[1] if state else None


class Lifetime(object):
    """Whether the task may go on: not stopped by a signal, and its controller (a ControllerProcess, or None) alive."""

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

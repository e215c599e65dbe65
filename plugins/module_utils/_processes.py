# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes as this system tells them apart: a pid names a process only until it ends, and only on its system.

A task is bound to the ``ansible-playbook`` process that asked for it (_lifetime), and a run waiting in the fair
queue notes its process beside the cache (_machine), so that the other runs of its machine can tell a waiter that
was killed from one that waits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError


class ProcessIdentity(object):
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


def this_system():
    """What tells this system apart: host name, boot and pid namespace, the scope in which a pid names one process;
    None where /proc does not say."""
    try:
        with open('/proc/sys/kernel/random/boot_id') as handle:
            boot = handle.read().strip()
        namespace = os.stat('/proc/self/ns/pid').st_ino
    except (IOError, OSError):
        return None
    return '%s %s %d' % (socket.gethostname(), boot, namespace)

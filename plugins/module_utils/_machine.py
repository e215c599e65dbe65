# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the runs on this machine that share one cache coordinate, through files beside it.

A file lock (flock) lets one run at a time update the cache's refs. A run that pushed
announces the branch's new head in a file that the runs waiting here watch, so they
see a push from this machine without asking the server. A view of the server's refs,
read by one run, serves the others for a while: the runs waiting here share one look
at the server instead of each asking it. A run that waits in the fair queue leaves a
note naming its process, so the other runs here can tell its ticket from one whose
waiter was killed (only runs on this system can see whether a process of it lives).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import random
import time
from collections import namedtuple

from ansible_collections.lockpool.git.plugins.module_utils._errors import LockTimeoutError
from ansible_collections.lockpool.git.plugins.module_utils._processes import ProcessIdentity, this_system

LOCAL_POLL = 0.025  # seconds between looks at this machine's announcements while waiting
_FREED = 'freed'  # the suffix of a gone waiter's note once a run deletes its ticket
GoneWaiter = namedtuple('GoneWaiter', 'ticket_id age freed')  # age: seconds since the waiter last noted itself


class MachineCoordination(object):
    """The files the runs on this machine share about the cache at ``path`` (``<key>.git``) and its ``branch``."""

    def __init__(self, path, branch):
        self.path = path
        base = os.path.splitext(path)[0]
        self._lock_path = path + '.lock'
        self._head_path = '%s.%s.head' % (base, hashlib.sha256(branch.encode('utf-8')).hexdigest()[:12])
        self._view_base = base
        self._waiters_dir = base + '.waiters'

    # -- the cache's lock -----------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self, deadline=None):
        """Hold the machine-wide lock on the cache; waiting for it gives up at ``deadline`` (monotonic, None = never)."""
        with self._holding(self._lock_path, deadline):
            self._remove_stale_ref_locks()
            yield

    @contextlib.contextmanager
    def _holding(self, lock_path, deadline):
        with open(lock_path, 'a') as handle:
            self._lock(handle, deadline)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock(self, handle, deadline):
        if deadline is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
            return
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockTimeoutError('gave up waiting for the cache %s: another run on this machine kept it busy' % self.path)
            time.sleep(random.uniform(0.005, 0.02))

    def _remove_stale_ref_locks(self):
        """A run killed during an update leaves ``*.lock`` files; we hold the cache lock, so they are stale."""
        ref_dir = os.path.join(self.path, 'refs', 'lockpool')
        for directory, _dirs, files in os.walk(ref_dir):
            for name in files:
                if name.endswith('.lock'):
                    os.unlink(os.path.join(directory, name))
        packed = os.path.join(self.path, 'packed-refs.lock')
        if os.path.exists(packed):
            os.unlink(packed)

    # -- announcements of changes ---------------------------------------------------

    def announce(self, sha):
        """Tell runs waiting on this machine that the branch moved to ``sha``."""
        _write_atomically(self._head_path, sha)

    def announced(self):
        """The last change announced on this machine; read it under exclusive() to wait from that state."""
        try:
            with open(self._head_path) as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return None

    def wait_for_announcement(self, since, until, clock=time.monotonic, sleep=time.sleep):
        """True as soon as a change other than the announcement ``since`` is announced; False once ``until``
        (monotonic, None = never) passes without one. Looks every LOCAL_POLL seconds."""
        while True:
            if self.announced() != since:
                return True
            if until is not None and clock() >= until:
                return False
            remaining = LOCAL_POLL if until is None else max(0.0, min(LOCAL_POLL, until - clock()))
            sleep(remaining * random.uniform(0.8, 1.2))

    # -- the shared view of the server's refs ---------------------------------------

    def shared_view(self, patterns, max_age, read, deadline=None, clock=time.time):
        """``read()``, the server's refs that ``patterns`` (a tuple of ls-remote patterns) select, or what it returned
        to a run on this machine less than ``max_age`` seconds ago: the runs waiting here ask the server once per
        ``max_age`` between them, not each. A push announced here since that read makes it stale (the push may have
        changed those refs: a ticket deleted with a claim), so the first run to look after a push from this machine
        reads again. With ``read`` None, a stale view is None: a look that must not cost a request."""
        path = self._view_path(patterns)
        with self._holding(path + '.lock', deadline):
            view = _read_json(path)
            if view.get('announced') == self.announced() and 0 <= clock() - view.get('read_at', -max_age - 1) < max_age:
                return view['refs']
            if read is None:
                return None
            read_at, announced, refs = clock(), self.announced(), read()
            _write_atomically(path, json.dumps(dict(read_at=read_at, announced=announced, refs=refs)))
            return refs

    def view_age(self, patterns, clock=time.time):
        """Seconds since a run on this machine read the view of ``patterns``; None when none has."""
        read_at = _read_json(self._view_path(patterns)).get('read_at')
        return None if read_at is None else max(0.0, clock() - read_at)

    def _view_path(self, patterns):
        return '%s.%s.view' % (self._view_base, hashlib.sha256('\n'.join(patterns).encode('utf-8')).hexdigest()[:12])

    # -- the notes of the runs waiting here ----------------------------------------

    def note_waiter(self, ticket_id):
        """Note that this process waits with the ticket ``ticket_id``; noted again before each push of the ticket, so a
        note is never older than its ticket's last push."""
        me = ProcessIdentity.of(os.getpid())
        try:
            os.makedirs(self._waiters_dir, mode=0o700, exist_ok=True)
            _write_atomically(self._waiter_path(ticket_id), json.dumps(dict(pid=me.pid, started=me.started, system=this_system())))
        except (IOError, OSError):
            pass  # without a note, the ticket of this waiter expires if it is killed, as any other machine's

    def gone_waiters(self):
        """The waiters of this machine that were killed before they left the queue (one that ends forgets its note), as
        GoneWaiter(ticket_id, age, freed). A note from another system (a cache directory shared between machines)
        is never judged: a pid means a process only on the system that wrote it."""
        try:
            names = os.listdir(self._waiters_dir)
        except (IOError, OSError):
            return []
        system = this_system()
        gone = []
        for name in names:
            ticket_id, _dot, suffix = name.partition('.')
            path = os.path.join(self._waiters_dir, name)
            note = _read_json(path)
            if suffix not in ('', _FREED) or system is None or note.get('system') != system or not isinstance(note.get('pid'), int):
                continue
            if not ProcessIdentity(note['pid'], note.get('started')).alive():
                try:
                    gone.append(GoneWaiter(ticket_id, max(0.0, time.time() - os.stat(path).st_mtime), suffix == _FREED))
                except (IOError, OSError):
                    pass  # forgotten meanwhile
        return gone

    def free_waiter(self, ticket_id):
        """Mark a gone waiter's ticket as being deleted; True for the one run that marked it (and so deletes it)."""
        path = self._waiter_path(ticket_id)
        try:
            os.rename(path, '%s.%s' % (path, _FREED))
            return True
        except (IOError, OSError):
            return False

    def forget_waiter(self, ticket_id):
        """Remove the note of ``ticket_id``, freed or not."""
        for path in (self._waiter_path(ticket_id), '%s.%s' % (self._waiter_path(ticket_id), _FREED)):
            try:
                os.unlink(path)
            except (IOError, OSError):
                pass

    def _waiter_path(self, ticket_id):
        return os.path.join(self._waiters_dir, ticket_id)


def _read_json(path):
    try:
        with open(path) as handle:
            found = json.load(handle)
        return found if isinstance(found, dict) else {}
    except (IOError, OSError, ValueError):
        return {}


def _write_atomically(path, text):
    temporary = '%s.%d' % (path, os.getpid())
    with open(temporary, 'w') as handle:
        handle.write(text)
    os.rename(temporary, path)

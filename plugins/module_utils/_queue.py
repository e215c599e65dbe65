# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fair queue: waiters served in arrival order, kept in refs outside the branch.

A fair claimer that has to wait pushes a ticket, a ref named
``refs/lockpool/queue/<branch>/<pool>/<arrival ms>-<id>-<wanted>-<expires s>``
(the pool's name percent-encoded where git would not take it in a ref name) that points at the branch's head (an object the server has, so nothing is
uploaded). The name says everything: when its waiter arrived, how many locks it
wants and until when it is alive, so one ``ls-remote`` reads the whole queue. A
waiter renews its ticket (an atomic rename) while it waits and deletes it when it
is done. A waiter killed before it could leave is noticed by the next fair claimer
of its machine, which deletes its ticket (the waiter noted its process beside the
cache); anywhere else, the ticket expires. A fair claimer takes locks only when the
locks free now are enough for every older live ticket and for it.

Concourse never sees these refs (it clones the branch only) and does not honour
them: only fair claimers queue. Expiry compares the ticket's time with the
reader's clock, so machines must agree on the time to within the ticket's life.

A waiter asks the server whether the branch moved more often the nearer it is to
the head of the queue, so that a freed lock is taken soon by the waiter it is
for. It asks through its machine's view of the server (RepoCache.watch), which
reads the branch and the queue in one ls-remote and serves every waiter there:
a machine costs the server one look per interval of its best placed waiter,
however many wait on it, and deciding again reads that view, not the server.
A server that refuses the queue's refs makes claims unfair, not failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os
import re
import time
from collections import namedtuple
from urllib.parse import quote

from ansible_collections.lockpool.git.plugins.module_utils._errors import RepositoryError
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text

QUEUE_REFS = 'refs/lockpool/queue/'
TICKET_LIFE = 150.0  # a killed waiter that no run of its machine notices (the machine died) holds its place this long at most
RENEW_AFTER = 60.0  # a ticket outlives two missed renewals, each up to RECHECK_EVERY late, and any view of the queue
RECHECK_EVERY = 5.0  # a waiter decides again this often even if the branch does not move: renewal, tickets gone
QUEUE_VIEW_AGE = 0.2  # seconds a queue read serves every waiter on the machine, for a decision before any wait
QUEUE_VIEW_MAX_AGE = 10.0  # a waiter's view of the queue is never older: it still shows every renewed ticket live
GONE_NOTE_LIFE = 2 * TICKET_LIFE  # a killed waiter's note outlives any ticket it may have pushed, and views of it
HEAD_LOOK_EVERY = 2.5  # seconds between looks at the branch for the head of the queue; later places look less often
_TICKET_NAME = re.compile(r'^(?P<arrival>\d+)-(?P<id>[0-9a-f]+)-(?P<wanted>\d+)-(?P<expires>\d+)$')


class Ticket(namedtuple('Ticket', 'arrival id wanted expires ref')):
    """One waiter's place in the queue; ``arrival`` in milliseconds, ``expires`` in seconds since the epoch."""

    __slots__ = ()

    @property
    def place(self):
        return (self.arrival, self.id)


def queue_prefix(branch, pool):
    return '%s%s/' % (branch_queues(branch), ref_component(pool))


def ref_component(name):
    """``name`` as one component of a ref name that git accepts and that no ls-remote pattern reads as a glob.

    Every character but letters, digits and ``-_.`` is percent-encoded, and so is a dot that would start
    ``..`` or end the component (``x.lock`` and ``x.`` are refused): a plain name stays as it is, and
    the encoding can be undone, so two pools never share a queue.
    """
    text = quote(name, safe='-_.').replace('~', '%7E')  # quote() never encodes '~', which git refuses
    text = re.sub(r'\.(?=\.)', '%2E', text)
    return re.sub(r'\.(?=(lock)?$)', '%2E', text)


def _ticket_ref(prefix, arrival, ticket_id, wanted, expires):
    return '%s%d-%s-%d-%d' % (prefix, arrival, ticket_id, wanted, expires)


def branch_queues(branch):
    """The prefix of every pool's queue of ``branch``: what a waiter's looks at the server read along."""
    return '%s%s/' % (QUEUE_REFS, branch)


def read_tickets(cache, pool, max_age=QUEUE_VIEW_AGE):
    """Every ticket of the pool's queue on the server, oldest first (expired ones included), as seen at most
    ``max_age`` ago from this machine."""
    prefix = queue_prefix(cache.remote.branch, pool)
    return _tickets(cache.remote_refs(prefix, max_age=max_age), prefix)


def _tickets(refs, prefix):
    """The tickets among ``refs`` that are right under ``prefix``, oldest first."""
    tickets = []
    for ref in refs:
        match = _TICKET_NAME.match(ref[len(prefix):]) if ref.startswith(prefix) else None
        if match:
            tickets.append(Ticket(int(match.group('arrival')), match.group('id'), int(match.group('wanted')),
                                  int(match.group('expires')), ref))
    return sorted(tickets, key=lambda ticket: ticket.place)


def describe_queues(cache, pools, now=None):
    """{pool: its live queue} as pool_lock_info shows it, oldest first, for every pool in ``pools``; one ls-remote."""
    now = time.time() if now is None else now
    refs = cache.remote_refs(branch_queues(cache.remote.branch))
    queues = {}
    for pool in pools:
        live = [ticket for ticket in _tickets(refs, queue_prefix(cache.remote.branch, pool)) if ticket.expires > now]
        queues[pool] = [dict(position=index + 1, ticket=ticket.id, arrived_at=utc_text(ticket.arrival // 1000),
                             wanted=ticket.wanted, expires_at=utc_text(ticket.expires))
                        for index, ticket in enumerate(live)]
    return queues


class FairWaiter(object):
    """One fair claimer: its place in the pool's queue, and its ticket once it has had to wait."""

    def __init__(self, cache, pool, wanted, clock=time.time):
        self.cache = cache
        self.pool = pool
        self.wanted = wanted
        self.clock = clock
        self.arrival = int(clock() * 1000)
        self.id = binascii.hexlify(os.urandom(6)).decode('ascii')
        self.ticket = None
        self.renewed_at = None
        self.refused = None  # what the server said when it refused a ticket: the claim then goes on unfair
        self.view_age = QUEUE_VIEW_AGE  # how old a view of the queue may be for this waiter's decisions
        self._expired_seen = []
        cache.watch(branch_queues(cache.remote.branch))

    def wanted_ahead(self):
        """How many locks the live tickets older than this waiter want (at most one ls-remote, none while the
        machine's view of the queue is as fresh as this waiter's looks at the server)."""
        now = self.clock()
        tickets = self._without_gone_waiters(read_tickets(self.cache, self.pool, self.view_age))
        self._expired_seen = [ticket.ref for ticket in tickets if ticket.expires <= now and ticket.ref != self.ticket]
        return sum(ticket.wanted for ticket in tickets
                   if ticket.expires > now and ticket.place < (self.arrival, self.id))

    def _without_gone_waiters(self, tickets):
        """``tickets`` but those of this machine's killed waiters. The first run here to see such a ticket deletes it
        (one push for all it sees), so that no waiter on any machine waits for it until it expires."""
        gone = dict((waiter.ticket_id, waiter) for waiter in self.cache.gone_waiters() if waiter.ticket_id != self.id)
        if not gone:
            return tickets
        doomed = [ticket.ref for ticket in tickets
                  if ticket.id in gone and not gone[ticket.id].freed and self.cache.free_waiter(ticket.id)]
        if doomed:
            try:
                self.cache.push_refs([':' + ref for ref in doomed], atomic=False)
            except RepositoryError:
                pass  # they expire
        shown = set(ticket.id for ticket in tickets)
        for waiter in gone.values():
            if waiter.ticket_id not in shown and waiter.age > GONE_NOTE_LIFE:
                self.cache.forget_waiter(waiter.ticket_id)
        return [ticket for ticket in tickets if ticket.id not in gone]

    def before_wait(self, head):
        """Keep this waiter's place for a wait from ``head``; returns how often to look at the branch in that wait
        (often at the head of the queue, less often further back), or None once the server refused the queue."""
        self.keep_place(head)
        if self.refused:
            return None
        look_every = HEAD_LOOK_EVERY * (1 + self.wanted_ahead())
        self.view_age = min(look_every, QUEUE_VIEW_MAX_AGE)
        return look_every

    def keep_place(self, head):
        """Push this waiter's ticket, or renew it when it is due; ``head`` is a commit the server has."""
        now = self.clock()
        if self.refused or (self.ticket is not None and now - self.renewed_at < RENEW_AFTER):
            return
        ref = _ticket_ref(queue_prefix(self.cache.remote.branch, self.pool), self.arrival, self.id, self.wanted,
                          int(now + TICKET_LIFE))
        refspecs = ['%s:%s' % (head, ref)] + ([':' + self.ticket] if self.ticket else [])
        self.cache.note_waiter(self.id)
        if not self.cache.push_refs(refspecs):
            self.cache.forget_waiter(self.id)
            self.refused = ('the lock repository %s refused the fair-queue ticket %s, so this claim waited unfairly; '
                            'fairness needs a server that accepts pushes to refs under %s (or set fair: false)'
                            % (self.cache.remote.display_url, ref, QUEUE_REFS))
            return
        self.ticket, self.renewed_at = ref, now

    def departure(self):
        """Refspecs that delete this waiter's ticket along with the push of its claim, so that it never holds
        locks and a place in the queue at once."""
        return [':' + self.ticket] if self.ticket else []

    def departed(self):
        """The claim landed, and the ticket was deleted with it."""
        self.ticket = None

    def leave(self):
        """Delete this waiter's ticket and the expired ones it saw; best effort. A ticket left behind keeps its note, so
        that once this process has ended the next fair claimer of the machine deletes it (as a killed waiter's)."""
        refs = ([self.ticket] if self.ticket else []) + self._expired_seen
        deleted = True
        if refs:
            try:
                deleted = self.cache.push_refs([':' + ref for ref in refs], atomic=False)
            except RepositoryError:
                deleted = False
        if deleted or self.ticket is None:
            self.cache.forget_waiter(self.id)
        self.ticket = None

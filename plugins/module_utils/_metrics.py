# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus metrics of lock operations, pushed to a Pushgateway.

A Pushgateway keeps, per grouping key, the metrics of the last push to it; it
cannot add up counters across runs. So each kind of fact gets its own group,
and every push replaces its group whole (``push_to_gateway``, HTTP PUT):

- ``{pool, branch, operation}``: the Pix4D fork's ``resource_pool_execution_time``;
- ``{pool, branch}``: the Pix4D fork's counts of available and claimed locks,
  and ours of dirty ones, read from the state the operation left the branch in;
- ``{pool, branch, operation, outcome}``: the last run with that outcome (how
  long it took, waited, how many push races it lost, when it finished);
- ``{pool, branch, waiter}``: one group per run waiting for a lock, re-pushed
  as a heartbeat while it waits and deleted when it stops waiting.

Nothing here ever fails the task: a push that fails becomes one warning.
Nor does the gateway hold the task up: the requests of the task's end are one
round, bounded by PUSH_SECONDS (cut to what is left of the task's ``timeout``),
that the first failure ends, since a gateway that did not answer one request
will not answer the next; heartbeats are pushed by a thread of their own.
Credentials are sent as HTTP basic auth, never in the URL; the ones written
into ``prometheus_push_gateway`` are taken out of it (and masked by
_plugin_runner, with ``gateway_secrets``).
docs/metrics.md explains every metric and how to query it.

prometheus-client, and ansible's urls (cryptography, ssl, http, email), are
slow to import (docs/performance.md): the functions that push import them, so
that a run without a Pushgateway never does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import functools
import importlib.util
import os
import socket
import threading
import time
import uuid

from ansible_collections.lockpool.git.plugins.module_utils import _inventory as inventory
from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._connection import scrub_url, split_url_credentials, url_secrets
from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError, LockTimeoutError

# Found, not imported: pool_lock reports it missing with missing_required_lib when a gateway is set.
HAS_PROMETHEUS_CLIENT = importlib.util.find_spec('prometheus_client') is not None
PROMETHEUS_CLIENT_IMPORT_ERROR = None if HAS_PROMETHEUS_CLIENT else ModuleNotFoundError(
    "No module named 'prometheus_client'", name='prometheus_client')

DEFAULT_JOB = 'lockpool'
# What the gateway may cost a task at its end, all its requests together, and each heartbeat. A Pushgateway keeps
# everything in memory and answers in milliseconds: one that has not answered in this time is not answering.
PUSH_SECONDS = 2.0
# A run that used up its whole timeout (it timed out) still gets this long to say so.
MIN_PUSH_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0
STALE_WAITER_SECONDS = 60.0
HEARTBEAT_METRIC = 'lockpool_waiter_heartbeat_timestamp_seconds'

# The outcome label's values.
CHANGED = 'changed'
UNCHANGED = 'unchanged'
NOT_ACQUIRED = 'not_acquired'
TIMED_OUT = 'timed_out'
FAILED = 'failed'

_OUTCOME_OF_DECISION = {transaction.CHANGE: CHANGED, transaction.NOTHING: UNCHANGED, transaction.WAIT: NOT_ACQUIRED}


def operation_metrics(params, operation_class, check_mode, warn):
    """The context manager and transaction observer for one run of ``operation_class``, from the module's params.

    Without ``prometheus_push_gateway``, and in check mode, it observes nothing and pushes nothing. The
    ``operation`` label is the Pix4D fork's, as the operation names it (_operations.Operation.metric_label).
    """
    if not params.get('prometheus_push_gateway') or check_mode:
        return contextlib.nullcontext(transaction.Observer())
    importlib.import_module('prometheus_client')  # now: a broken installation fails before the lock operation
    gateway = Gateway(params['prometheus_push_gateway'], params['prometheus_job'], warn,
                      params.get('prometheus_push_gateway_username'), params.get('prometheus_push_gateway_password'))
    operation_of = functools.partial(operation_class.metric_label, params)
    timeout = parse_duration(params.get('timeout') or 0, 'timeout')
    return OperationMetrics(gateway, params['pool'], params['branch'], operation_of, timeout)


def gateway_secrets(url):
    """The secrets written into a ``prometheus_push_gateway`` URL (see _connection.url_secrets), for Ansible to mask."""
    return url_secrets(_with_scheme(url)) if url else []


def _with_scheme(url):
    return url if '://' in url else 'http://' + url


def _registry_with_gauges(values):
    """A registry holding one gauge per (name, help, value)."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    for name, documentation, value in values:
        Gauge(name, documentation, registry=registry).set(value)
    return registry


class Round(object):
    """Requests to the gateway that go together (a task's end, one heartbeat): they share ``seconds``, and the
    first that fails ends the round, so that a gateway that does not answer costs the round's time once."""

    def __init__(self, seconds):
        self.seconds = seconds
        self._until = time.monotonic() + seconds
        self.over = False

    def left(self):
        """Seconds the next request may take; 0 once the round is over."""
        return 0 if self.over else max(0, self._until - time.monotonic())


class Gateway(object):
    """One Pushgateway and job. Every call returns normally: a failure becomes one warning through ``warn``.

    Credentials written into ``url`` are used as ``username`` and ``password`` are, when those are not given.
    """

    def __init__(self, url, job, warn, username=None, password=None):
        url = _with_scheme(url)
        self.url, url_username, url_password = split_url_credentials(url)
        self.job = job
        self._username = username if username is not None else url_username
        self._password = password if password is not None else url_password
        if self._username is not None and self._password is None:
            self._password = ''  # a token alone, written as the URL's user
        self._secrets = [secret for secret in [self._password] + url_secrets(url) if secret]
        self._warn = warn
        self._warned = False
        self._lock = threading.Lock()

    def replace(self, grouping_key, registry, within):
        """Replace the metrics of the group ``grouping_key`` by those of ``registry``, in the Round ``within``."""
        from prometheus_client import push_to_gateway

        self._attempt('pushed to', within, lambda timeout: push_to_gateway(
            self.url, job=self.job, registry=registry, grouping_key=grouping_key, timeout=timeout, handler=self._handler()))

    def delete(self, grouping_key, within):
        from prometheus_client import delete_from_gateway

        self._attempt('deleted from', within, lambda timeout: delete_from_gateway(
            self.url, job=self.job, grouping_key=grouping_key, timeout=timeout, handler=self._handler()))

    def samples(self, metric, within):
        """The samples of ``metric`` the gateway holds for this job (empty when it cannot be read)."""
        families = self._attempt('read from', within, self._families) or ()
        return [sample for family in families for sample in family.samples
                if sample.name == metric and sample.labels.get('job') == self.job]

    def _handler(self):
        from prometheus_client.exposition import basic_auth_handler, default_handler

        if self._username is None:
            return default_handler
        return functools.partial(basic_auth_handler, username=self._username, password=self._password)

    def _families(self, timeout):
        from ansible.module_utils.urls import open_url
        from prometheus_client.parser import text_string_to_metric_families

        response = open_url(self.url.rstrip('/') + '/metrics', timeout=timeout, url_username=self._username,
                            url_password=self._password, force_basic_auth=self._username is not None)
        try:
            return list(text_string_to_metric_families(response.read().decode('utf-8')))
        finally:
            response.close()

    def _attempt(self, what, within, action):
        """``action(timeout)``'s value; None when the round is over, or when it fails (which ends the round)."""
        timeout = within.left()
        if not timeout:
            return None
        try:
            return action(timeout)
        except Exception as exc:  # metrics never fail the task, whatever went wrong (HTTP, socket, parsing)
            within.over = True
            self.warn_once(what, self._reason(exc, timeout))
            return None

    def warn_once(self, what, reason):
        """Warn that metrics were not ``what`` the gateway because of ``reason``: once a run, the first time."""
        with self._lock:  # the heartbeat's thread may fail at the same time
            if self._warned:
                return
            self._warned = True
        message = scrub_url('metrics were not %s the Prometheus Pushgateway %s: %s (the lock operation is not affected)'
                            % (what, self.url, reason))
        for secret in self._secrets:
            message = message.replace(secret, '***')
        self._warn(message)

    @staticmethod
    def _reason(exc, timeout):
        """What went wrong, said for the user: a gateway that never answered, refused credentials, or ``exc`` itself."""
        if isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(getattr(exc, 'reason', None), (socket.timeout, TimeoutError)):
            return did_not_answer(timeout)
        if getattr(exc, 'code', None) == 401:
            return ('it did not accept the credentials (HTTP 401 Unauthorized): set prometheus_push_gateway_username '
                    'and prometheus_push_gateway_password')
        return str(exc)


def did_not_answer(seconds):
    return 'it did not answer within %gs' % round(seconds, 1)


def _waiter_id():
    """Unique among every run on every machine, and readable: host, process id, random part."""
    host = ''.join(c if c.isalnum() or c in '.-' else '-' for c in socket.gethostname())
    return '%s-%d-%s' % (host, os.getpid(), uuid.uuid4().hex[:8])


class WaiterHeartbeat(object):
    """This run's place in the pool's queue: its own group on the gateway while it waits.

    A thread re-pushes the group with a fresh heartbeat every HEARTBEAT_SECONDS
    from the run's first wait to its end, so a waiter that was killed (and could
    not delete its group) is recognised by its old heartbeat. A run that waits
    again after looking at the branch stays listed all along.
    """

    def __init__(self, gateway, pool, branch):
        self.gateway = gateway
        self.grouping_key = dict(pool=pool, branch=branch, waiter=_waiter_id())
        self._since = None
        self._stop = None
        self._heartbeat = None

    def register(self):
        """Start the heartbeat's thread, which pushes the group at once: the wait never waits for the gateway."""
        if self._heartbeat is not None:
            return
        self._since = time.time()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._keep_beating, args=(self._stop,), name='lockpool-heartbeat')
        self._heartbeat.daemon = True
        self._heartbeat.start()

    def unregister(self, within):
        """Stop the heartbeat, then delete the group, in the Round ``within``.

        The heartbeat stops first, so that no heartbeat pushes the group again after it is deleted. A heartbeat
        still waiting for the gateway's answer when the round is over is left to its own (daemon) thread, and the
        group to the next run's purge of stale waiters.
        """
        if self._heartbeat is None:
            return
        self._stop.set()
        self._heartbeat.join(within.left())
        beating, self._heartbeat = self._heartbeat.is_alive(), None
        if beating:
            within.over = True
            self.gateway.warn_once('deleted from', did_not_answer(PUSH_SECONDS))
            return
        self.gateway.delete(self.grouping_key, within)

    def _keep_beating(self, stop):
        self._beat()
        while not stop.wait(HEARTBEAT_SECONDS):
            self._beat()

    def _beat(self):
        self.gateway.replace(self.grouping_key, _registry_with_gauges([
            ('lockpool_waiter_since_timestamp_seconds', 'When this run started waiting for a lock (Unix time).', self._since),
            (HEARTBEAT_METRIC, 'Last sign of life of this waiting run (Unix time); stale when the run was killed.',
             time.time()),
        ]), Round(PUSH_SECONDS))


def purge_stale_waiters(gateway, now, within):
    """Delete the groups of waiters whose heartbeat is older than STALE_WAITER_SECONDS: they were killed."""
    for sample in gateway.samples(HEARTBEAT_METRIC, within):
        if sample.value < now - STALE_WAITER_SECONDS:
            gateway.delete(dict((key, sample.labels[key]) for key in ('pool', 'branch', 'waiter')), within)


class OperationMetrics(transaction.Observer):
    """Observes one pool_lock run and pushes its metrics when the run ends, whatever its outcome.

    Use as a context manager around the run; an exception leaving the block is
    reported (outcome ``timed_out`` or ``failed``) and then propagates.
    """

    def __init__(self, gateway, pool, branch, operation_of, timeout=0):
        self.gateway = gateway
        self.timeout = timeout
        self.pool = pool
        self.branch = branch
        self._operation_of = operation_of
        self.waiter = WaiterHeartbeat(gateway, pool, branch)
        self._started = None
        self._wait_started = None
        self.waited = 0.0
        self.races = 0
        self.decision = None
        self.lock_counts = None

    def __enter__(self):
        self._started = time.monotonic()
        return self

    def __exit__(self, exc_type, exc, traceback):
        duration = time.monotonic() - self._started
        end = Round(self._end_seconds(duration))
        self.waiter.unregister(end)
        operation = self._operation_of(self.decision)
        if exc_type is None:
            self._push_pix4d(operation, duration, end)
        self._push_outcome(operation, _outcome_name(exc_type, self.decision), duration, end)
        purge_stale_waiters(self.gateway, time.time(), end)
        return False

    def _end_seconds(self, duration):
        """How long the task's end may spend on the gateway: PUSH_SECONDS, within what is left of the task's timeout."""
        if not self.timeout:
            return PUSH_SECONDS
        return max(MIN_PUSH_SECONDS, min(PUSH_SECONDS, self.timeout - duration))

    # -- transaction.Observer ---------------------------------------------------------

    def race_lost(self):
        self.races += 1

    def waiting_started(self, decision):
        self.decision = decision
        self._wait_started = time.monotonic()
        self.waiter.register()

    def waiting_ended(self):
        self.waited += time.monotonic() - self._wait_started

    def finished(self, decision, snapshot):
        self.decision = decision
        self.lock_counts = _lock_counts(snapshot, self.pool)

    # -- pushing ----------------------------------------------------------------------

    def _push_pix4d(self, operation, duration, within):
        from prometheus_client import CollectorRegistry, Histogram

        registry = CollectorRegistry()
        Histogram('resource_pool_execution_time', 'Execution time of the current operation',
                  registry=registry).observe(duration)
        self.gateway.replace(dict(pool=self.pool, branch=self.branch, operation=operation), registry, within)
        if self.lock_counts is not None:
            available, claimed, dirty = self.lock_counts
            self.gateway.replace(dict(pool=self.pool, branch=self.branch), _registry_with_gauges([
                ('resource_pool_num_available_locks', 'The number of unclaimed locks in the current pool', available),
                ('resource_pool_num_claimed_locks', 'The number of claimed locks in the current pool', claimed),
                ('lockpool_dirty_locks', 'The number of dirty locks in the current pool (counted among the claimed ones too): '
                 'released dirty, not handed out until reset', dirty),
            ]), within)

    def _push_outcome(self, operation, outcome, duration, within):
        self.gateway.replace(dict(pool=self.pool, branch=self.branch, operation=operation, outcome=outcome),
                             _registry_with_gauges([
                                 ('lockpool_operation_duration_seconds',
                                  'Seconds the last run with this outcome took, waiting included.', duration),
                                 ('lockpool_operation_wait_seconds',
                                  'Seconds the last run with this outcome waited for a lock.', self.waited),
                                 ('lockpool_operation_push_races_lost',
                                  'Push races the last run with this outcome lost (and retried).', self.races),
                                 ('lockpool_operation_last_timestamp_seconds',
                                  'When the last run with this outcome ended (Unix time).', time.time()),
                             ]), within)


def _lock_counts(snapshot, pool_name):
    """(available, claimed, dirty) locks of the pool at ``snapshot``, the dirty ones counted among the claimed as Concourse
    sees them; None when there is no such pool."""
    try:
        pool = snapshot.pool(pool_name)
        return len(pool.available()), len(pool.claimed), len(inventory.dirty_locks(snapshot, pool))
    except LockpoolError:
        return None


def _outcome_name(exc_type, decision):
    if exc_type is None:
        return _OUTCOME_OF_DECISION[decision.kind]
    if issubclass(exc_type, LockTimeoutError):
        return TIMED_OUT
    return FAILED

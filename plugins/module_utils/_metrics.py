# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus metrics of lock operations, pushed to a Pushgateway.

A Pushgateway keeps, per grouping key, the metrics of the last push to it; it
cannot add up counters across runs. So each kind of fact gets its own group,
and every push replaces its group whole (``push_to_gateway``, HTTP PUT):

- ``{pool, branch, operation}``: the Pix4D fork's ``resource_pool_execution_time``;
- ``{pool, branch}``: the Pix4D fork's counts of available and claimed locks,
  read from the state the operation left the branch in;
- ``{pool, branch, operation, outcome}``: the last run with that outcome (how
  long it took, waited, how many push races it lost, when it finished);
- ``{pool, branch, waiter}``: one group per run waiting for a lock, re-pushed
  as a heartbeat while it waits and deleted when it stops waiting.

Nothing here ever fails the task: a push that fails becomes one warning.
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

from ansible_collections.lockpool.git.plugins.module_utils import _transaction as transaction
from ansible_collections.lockpool.git.plugins.module_utils._connection import scrub_url
from ansible_collections.lockpool.git.plugins.module_utils._errors import LockpoolError, LockTimeoutError

# Found, not imported: pool_lock reports it missing with missing_required_lib when a gateway is set.
HAS_PROMETHEUS_CLIENT = importlib.util.find_spec('prometheus_client') is not None
PROMETHEUS_CLIENT_IMPORT_ERROR = None if HAS_PROMETHEUS_CLIENT else ModuleNotFoundError(
    "No module named 'prometheus_client'", name='prometheus_client')

DEFAULT_JOB = 'lockpool'
PUSH_TIMEOUT = 5
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
    gateway = Gateway(params['prometheus_push_gateway'], params['prometheus_job'], warn)
    operation_of = functools.partial(operation_class.metric_label, params)
    return OperationMetrics(gateway, params['pool'], params['branch'], operation_of)


def _registry_with_gauges(values):
    """A registry holding one gauge per (name, help, value)."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    for name, documentation, value in values:
        Gauge(name, documentation, registry=registry).set(value)
    return registry


class Gateway(object):
    """One Pushgateway and job. Every call returns normally: a failure becomes one warning through ``warn``."""

    def __init__(self, url, job, warn):
        self.url = url if '://' in url else 'http://' + url
        self.job = job
        self._warn = warn
        self._warned = set()

    def replace(self, grouping_key, registry):
        """Replace the metrics of the group ``grouping_key`` by those of ``registry``."""
        from prometheus_client import push_to_gateway

        self._attempt('pushed to', lambda: push_to_gateway(
            self.url, job=self.job, registry=registry, grouping_key=grouping_key, timeout=PUSH_TIMEOUT))

    def delete(self, grouping_key):
        from prometheus_client import delete_from_gateway

        self._attempt('deleted from', lambda: delete_from_gateway(
            self.url, job=self.job, grouping_key=grouping_key, timeout=PUSH_TIMEOUT))

    def samples(self, metric):
        """The samples of ``metric`` the gateway holds for this job (empty when it cannot be read)."""
        families = self._attempt('read from', self._families) or ()
        return [sample for family in families for sample in family.samples
                if sample.name == metric and sample.labels.get('job') == self.job]

    def _families(self):
        from ansible.module_utils.urls import open_url
        from prometheus_client.parser import text_string_to_metric_families

        response = open_url(self.url.rstrip('/') + '/metrics', timeout=PUSH_TIMEOUT)
        try:
            return list(text_string_to_metric_families(response.read().decode('utf-8')))
        finally:
            response.close()

    def _attempt(self, what, action):
        try:
            return action()
        except Exception as exc:  # metrics never fail the task, whatever went wrong (HTTP, socket, parsing)
            message = scrub_url('metrics were not %s the Prometheus Pushgateway %s: %s (the lock operation is not affected)'
                                % (what, self.url, exc))
            if message not in self._warned:
                self._warned.add(message)
                self._warn(message)
            return None


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
        if self._heartbeat is not None:
            return
        self._since = time.time()
        self._beat()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._keep_beating, args=(self._stop,), name='lockpool-heartbeat')
        self._heartbeat.daemon = True
        self._heartbeat.start()

    def unregister(self):
        """Stop the heartbeat first, so that no heartbeat pushes the group again after it is deleted."""
        if self._heartbeat is None:
            return
        self._stop.set()
        self._heartbeat.join()
        self._heartbeat = None
        self.gateway.delete(self.grouping_key)

    def _keep_beating(self, stop):
        while not stop.wait(HEARTBEAT_SECONDS):
            self._beat()

    def _beat(self):
        self.gateway.replace(self.grouping_key, _registry_with_gauges([
            ('lockpool_waiter_since_timestamp_seconds', 'When this run started waiting for a lock (Unix time).', self._since),
            (HEARTBEAT_METRIC, 'Last sign of life of this waiting run (Unix time); stale when the run was killed.',
             time.time()),
        ]))


def purge_stale_waiters(gateway, now):
    """Delete the groups of waiters whose heartbeat is older than STALE_WAITER_SECONDS: they were killed."""
    for sample in gateway.samples(HEARTBEAT_METRIC):
        if sample.value < now - STALE_WAITER_SECONDS:
            gateway.delete(dict((key, sample.labels[key]) for key in ('pool', 'branch', 'waiter')))


class OperationMetrics(transaction.Observer):
    """Observes one pool_lock run and pushes its metrics when the run ends, whatever its outcome.

    Use as a context manager around the run; an exception leaving the block is
    reported (outcome ``timed_out`` or ``failed``) and then propagates.
    """

    def __init__(self, gateway, pool, branch, operation_of):
        self.gateway = gateway
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
        self.waiter.unregister()
        duration = time.monotonic() - self._started
        operation = self._operation_of(self.decision)
        if exc_type is None:
            self._push_pix4d(operation, duration)
        self._push_outcome(operation, _outcome_name(exc_type, self.decision), duration)
        purge_stale_waiters(self.gateway, time.time())
        return False

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

    def _push_pix4d(self, operation, duration):
        from prometheus_client import CollectorRegistry, Histogram

        registry = CollectorRegistry()
        Histogram('resource_pool_execution_time', 'Execution time of the current operation',
                  registry=registry).observe(duration)
        self.gateway.replace(dict(pool=self.pool, branch=self.branch, operation=operation), registry)
        if self.lock_counts is not None:
            available, claimed = self.lock_counts
            self.gateway.replace(dict(pool=self.pool, branch=self.branch), _registry_with_gauges([
                ('resource_pool_num_available_locks', 'The number of unclaimed locks in the current pool', available),
                ('resource_pool_num_claimed_locks', 'The number of claimed locks in the current pool', claimed),
            ]))

    def _push_outcome(self, operation, outcome, duration):
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
                             ]))


def _lock_counts(snapshot, pool_name):
    """(available, claimed) locks of the pool at ``snapshot``; None when there is no such pool."""
    try:
        pool = snapshot.pool(pool_name)
    except LockpoolError:
        return None
    return len(pool.available()), len(pool.claimed)


def _outcome_name(exc_type, decision):
    if exc_type is None:
        return _OUTCOME_OF_DECISION[decision.kind]
    if issubclass(exc_type, LockTimeoutError):
        return TIMED_OUT
    return FAILED

# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions raised by the lock engine.

Every message is meant for the user as it is: it names what is wrong and never
contains a secret (URLs are scrubbed before they reach a message).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class LockpoolError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidInputError(LockpoolError):
    """An option value (name, metadata, duration, ...) is not acceptable."""


class PoolNotFoundError(LockpoolError):
    """The pool does not exist in the repository."""


class LockNotFoundError(LockpoolError):
    """The lock does not exist in the pool."""


class BrokenLayoutError(LockpoolError):
    """The repository does not have the pool layout (claimed/ and unclaimed/)."""


class NotHolderError(LockpoolError):
    """The lock is held by someone else and force was not given."""


class LockTimeoutError(LockpoolError):
    """The wait for a lock ran out of time."""


class RepositoryError(LockpoolError):
    """The lock repository could not be read or written (unreachable, auth, missing branch)."""


class CacheDamagedError(RepositoryError):
    """The local cache cannot be used as it is (corrupt object, bad ref, ...); the engine rebuilds it once."""


class PushRejectedError(RepositoryError):
    """The server refused a push for a reason other than a lost race."""


class PushOutcomeUnknownError(RepositoryError):
    """A push was not answered, and the server could not say in time whether it landed."""


class TaskStoppedError(LockpoolError):
    """The task was stopped (a signal, or its controller is gone) before it was done; it claimed nothing."""


class JobSystemError(LockpoolError):
    """A job system (AWX, Concourse) could not tell whether a job still runs; its message names neither token nor secret."""

"""argon2id hashing off the event loop, in a bounded pool sized to the cores.

Verifying a password is CPU work of ~30 ms: run inline it would stall every other request.
The pool has one thread per core (argon2-cffi releases the GIL) and a bounded queue: once
``workers * queue_per_worker`` verifications are waiting, :class:`HasherBusy` is raised and the
caller answers 429 instead of letting latency grow without bound. The threads can run at a lower
OS priority (``nice``, and Linux's ``SCHED_IDLE`` policy) so that a login storm does not slow down
the pages of logged-in people.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Hasher", "HasherBusy"]


class HasherBusy(Exception):
    """Too many hashing jobs are waiting; the caller should retry shortly."""


def _lower_priority(nice: int, idle: bool) -> None:
    """Give this hashing thread a higher nice value and, with ``idle``, the SCHED_IDLE policy (Linux:
    per thread), so that the event loop, which serves every other request, preempts hashing instead
    of queueing behind it. SCHED_IDLE yields the core at once to any other thread that wakes up; it
    only weighs against the threads of the same cgroup (a pod, a container), not the machine's."""
    thread = threading.get_native_id()
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice))
        except OSError:
            pass  # not permitted here: hashing simply keeps the normal priority
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass  # not permitted here: the nice value alone


class Hasher:
    """Hash and verify passwords with fixed argon2id parameters."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int, workers: int | None = None,
                 queue_per_worker: int = 8, nice: int = 0, idle: bool = False) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                                  hash_len=32, salt_len=16, type=Type.ID)
        self.workers = workers or os.cpu_count() or 1
        self._limit = self.workers * (1 + queue_per_worker)
        self._pending = 0
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2",
                                        initializer=_lower_priority, initargs=(nice, idle))
        # Unknown emails are verified against this, so they cost the same time as known ones.
        self._dummy = self._ph.hash("dummy password for timing equality")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn, *args):
        if self._pending >= self._limit:
            raise HasherBusy()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

    def _verify_sync(self, stored: str | None, password: str) -> tuple[bool, bool]:
        try:
            self._ph.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored is None:
            return False, False
        return True, self._ph.check_needs_rehash(stored)

    async def hash(self, password: str) -> str:
        """A new argon2id hash, bounded like a verification: no caller may queue work without limit
        ahead of logins (bulk issuance did, before provisional passwords got a keyed hash)."""
        return await self._run(self._ph.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """``(matches, needs_rehash)``; ``stored=None`` verifies against a dummy hash and fails."""
        return await self._run(self._verify_sync, stored, password)

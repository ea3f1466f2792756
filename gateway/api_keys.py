"""Agency API keys that tenancy accepted, remembered a few seconds by this gateway process.

Without it every request of an agency's integration costs a second exchange before the one it
forwards (gateway -> tenancy -> PostgreSQL, ``/internal/api-keys/verify``): "no per-request work that
can be cached" (ARCHITECTURE.md §9). What is kept, under the key's SHA-256 (never the key itself):
the tenant and its status, for ``ttl`` seconds. Keys tenancy refused are not kept, so a key is
usable the moment it is issued.

A rotation or a status change that this process forwarded forgets every entry at once
(:meth:`VerifiedKeys.forget_all`); the other gateway processes keep an old answer at most ``ttl``
seconds. A verification already in flight when that happens is not kept (the generation check),
so an old key cannot come back into the cache after its rotation.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["KeyOwner", "VerifiedKeys"]

_MAX_ENTRIES = 10_000


class KeyOwner(NamedTuple):
    tenant_id: str
    status: str


class VerifiedKeys:
    """SHA-256 of a key -> (expiry, owner); ``ttl`` 0 keeps nothing."""

    def __init__(self, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[bytes, tuple[float, KeyOwner]] = {}
        self.generation = 0  # bumped by every forget: answers asked for before it are stale

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def get(self, key: str) -> KeyOwner | None:
        entry = self._entries.get(self._digest(key))
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._entries.pop(self._digest(key), None)
            return None
        return entry[1]

    def put(self, key: str, owner: KeyOwner, *, asked_at_generation: int) -> None:
        """Keep tenancy's answer, unless a forget happened while it was being asked for."""
        if self._ttl <= 0 or asked_at_generation != self.generation:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()  # bounded memory; a refill costs one verification per key
        self._entries[self._digest(key)] = (self._clock() + self._ttl, owner)

    def forget_all(self) -> None:
        """A key was rotated or a tenant's status changed: ask tenancy again for every key."""
        self._entries.clear()
        self.generation += 1

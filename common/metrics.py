"""Prometheus collectors shared by the components of one process.

A collector name registers once per registry, so components that may be installed several times
in one app (two consumers, a relay) get their collectors through :func:`collectors_for`, which
builds them once per registry.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry

__all__ = ["collectors_for"]

_C = TypeVar("_C")
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, dict] = weakref.WeakKeyDictionary()


def collectors_for(registry: CollectorRegistry | None, build: Callable[[CollectorRegistry | None], _C]) -> _C:
    """``build(registry)`` once per registry (a fresh, unregistered set when ``registry`` is None)."""
    if registry is None:
        return build(None)
    built = _by_registry.setdefault(registry, {})
    if build not in built:
        built[build] = build(registry)
    return built[build]

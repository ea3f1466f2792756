"""What start-up leaves to the garbage collector (common.service.freeze_startup_objects)."""

from __future__ import annotations

import gc
import weakref

import pytest

from common.service import freeze_startup_objects


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def frozen():
    before = gc.get_freeze_count()
    assert before == 0, "another test left objects frozen"
    yield
    gc.unfreeze()


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_start_up_objects_are_left_out_of_later_collections(frozen):
    built_at_start_up = _Node()
    freeze_startup_objects()
    assert gc.get_freeze_count() > 0
    tracked = {id(o) for o in gc.get_objects()}
    assert id(built_at_start_up) not in tracked


def test_garbage_made_after_start_up_is_still_collected(frozen):
    freeze_startup_objects()
    later = _cycle()  # unreachable at once, freed only by the collector
    assert later() is not None
    gc.collect()
    assert later() is None


def test_garbage_present_at_start_up_is_collected_not_frozen(frozen):
    earlier = _cycle()
    freeze_startup_objects()
    assert earlier() is None

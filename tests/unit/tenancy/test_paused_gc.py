"""directory.paused_gc: the collector is off inside, back on after, and the objects built inside do
not leave the youngest generation's counter past its threshold (no collection over them on exit)."""

from __future__ import annotations

import gc

from services.tenancy.directory import paused_gc


def test_the_collector_is_paused_inside_and_the_young_counter_is_reset_after():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        built = [[i] for i in range(50_000)]
        assert gc.get_count()[0] > gc.get_threshold()[0]
    assert gc.isenabled()
    assert gc.get_count()[0] < gc.get_threshold()[0]
    assert len(built) == 50_000


def test_cycles_made_inside_are_still_collected_by_a_full_collection():
    class Node:
        pass

    with paused_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a
    del a, b
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o).__name__ == "Node"]


def test_left_disabled_when_it_was_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

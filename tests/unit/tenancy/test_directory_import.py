"""directory_import.paused_gc (the collector off inside, back on after, the objects built inside not left
in the youngest generation past its threshold) and the lot ids' text order."""

from __future__ import annotations

import gc

from services.tenancy.directory_import import paused_gc


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


def test_lot_ids_in_text_form_sort_as_postgresql_sorts_uuids():
    """directory_import._sorted_ids sorts the text form: it must match the uuids' byte order (the stored
    lot_ids order, on which an unchanged re-import depends)."""
    import uuid

    from services.tenancy.directory_import import _sorted_ids

    ids = [uuid.uuid4() for _ in range(2000)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=9),
                                                 uuid.UUID(int=10), uuid.UUID(int=0xA0)]
    by_ref = {f"L{i}": str(u) for i, u in enumerate(ids)}
    literal = _sorted_ids(list(by_ref), by_ref)
    assert literal == "{" + ",".join(str(u) for u in sorted(ids, key=lambda u: u.bytes)) + "}"
    assert _sorted_ids(["L1"], by_ref) == "{" + by_ref["L1"] + "}"

"""The gateway's memory of agency API keys tenancy accepted: how long, under what, and when it forgets."""

from __future__ import annotations

from gateway.api_keys import KeyOwner, VerifiedKeys

KEY = "mck_0123456789ab_" + "s" * 43
OWNER = KeyOwner("8d3c7a4e-0000-4000-8000-000000000001", "active")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_accepted_key_is_kept_for_the_ttl_then_asked_again():
    clock = Clock()
    keys = VerifiedKeys(ttl=5.0, clock=clock)
    assert keys.get(KEY) is None
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    clock.now += 4.9
    assert keys.get(KEY) == OWNER
    clock.now += 0.1
    assert keys.get(KEY) is None


def test_only_that_exact_key_is_recognised():
    keys = VerifiedKeys(ttl=5.0, clock=Clock())
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    assert keys.get(KEY[:-1] + "t") is None
    assert keys.get(KEY + " ") is None


def test_the_key_itself_is_not_held_only_its_digest():
    keys = VerifiedKeys(ttl=5.0, clock=Clock())
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    assert KEY not in repr(vars(keys))
    assert KEY.encode() not in repr(vars(keys)).encode()


def test_a_ttl_of_zero_keeps_nothing():
    keys = VerifiedKeys(ttl=0, clock=Clock())
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    assert keys.get(KEY) is None


def test_forget_all_drops_every_key():
    keys = VerifiedKeys(ttl=5.0, clock=Clock())
    other = "mck_ba9876543210_" + "t" * 43
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    keys.put(other, KeyOwner("8d3c7a4e-0000-4000-8000-000000000002", "suspended"), asked_at_generation=keys.generation)
    keys.forget_all()
    assert keys.get(KEY) is None and keys.get(other) is None


def test_an_answer_asked_for_before_a_forget_is_not_kept():
    # A request verifies the old key; the rotation is forwarded and forgets; then tenancy's (old) answer
    # arrives: keeping it would let the old key work again for a whole TTL.
    keys = VerifiedKeys(ttl=5.0, clock=Clock())
    asked_at = keys.generation
    keys.forget_all()
    keys.put(KEY, OWNER, asked_at_generation=asked_at)
    assert keys.get(KEY) is None
    keys.put(KEY, OWNER, asked_at_generation=keys.generation)
    assert keys.get(KEY) == OWNER

"""Pure rules of tenancy: API keys, login URLs, directory cross-checks, activation counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.tenancy import domain
from services.tenancy.domain import Account, Lot, Residence


def test_api_keys_are_random_prefixed_and_only_their_hash_matches():
    key = domain.new_api_key()
    other = domain.new_api_key()
    assert key.secret != other.secret and key.prefix != other.prefix
    assert domain.parse_api_key_prefix(key.secret) == key.prefix
    assert key.prefix not in key.secret.split("_", 2)[2]  # the secret part is not derived from the prefix
    assert domain.api_key_matches(key.secret, key.digest)
    assert not domain.api_key_matches(other.secret, key.digest)
    assert len(key.digest) == 32


def test_malformed_keys_have_no_prefix():
    for bad in ("", "mck_", "Bearer x", "mck_ABCDEF123456_" + "a" * 43, "mck_abcdef123456_" + "a" * 42):
        assert domain.parse_api_key_prefix(bad) is None


def test_login_url_comes_from_configuration_and_escapes_codes():
    assert domain.login_url("https://x.fr/", "ADB01", "01") == "https://x.fr/login?client=ADB01&societe=01"
    assert domain.login_url("https://x.fr", "A-B_1", "x") == "https://x.fr/login?client=A-B_1&societe=x"


def _account(ref: str, lots: list[str], *, role: str = "coproprietaire", council: bool = False, i: int = 0):
    return Account(ref, role, "Nom", None, council, lots, f"accounts[{i}]")


def test_a_consistent_document_has_no_errors_even_with_stored_refs():
    errors = domain.check_directory_references(
        residences=[Residence("R1", "A", "")], lots=[Lot("L1", "R1", "1", ""), Lot("L2", "R0", "2", "")],
        accounts=[_account("C1", ["L1", "L9"], council=True)], known_residence_refs={"R0"}, known_lot_refs={"L9"})
    assert errors == []


def test_every_cross_row_problem_is_reported_with_its_path():
    errors = domain.check_directory_references(
        residences=[Residence("R1", "A", ""), Residence("R1", "B", "")],
        lots=[Lot("L1", "R1", "1", ""), Lot("L2", "R404", "2", "")],
        accounts=[_account("C1", ["L1"]), _account("C1", ["L1", "L1", "L404"], i=1),
                  _account("C2", ["L1"], role="locataire", council=True, i=2)],
    )
    assert [(e["path"], e["message"]) for e in errors] == [
        ("residences[1].ref", "duplicate ref 'R1' (first at residences[0].ref)"),
        ("accounts[1].ref", "duplicate ref 'C1' (first at accounts[0].ref)"),
        ("lots[1].residence_ref", "unknown residence ref 'R404'"),
        ("accounts[1].lot_refs[1]", "lot ref 'L1' listed twice"),
        ("accounts[1].lot_refs[2]", "unknown lot ref 'L404'"),
        ("accounts[2].council", "only a coproprietaire can be a council member"),
    ]


def test_referenced_refs_are_only_those_the_document_does_not_define():
    residences, lots = domain.referenced_refs(
        [Residence("R1", "A", "")], [Lot("L1", "R1", "1", ""), Lot("L2", "R2", "2", "")],
        [_account("C1", ["L1", "L3"])])
    assert (residences, lots) == ({"R2"}, {"L3"})


def test_without_access_means_no_state_or_expired():
    states = {"a": "credentials_issued", "b": "pending_verification", "c": "activated", "d": "expired"}
    assert domain.without_access(["a", "b", "c", "d", "e"], states) == ["d", "e"]


def test_activation_stats_count_only_the_given_accounts():
    states = {"a": "credentials_issued", "b": "activated", "c": "activated", "x": "activated"}
    assert domain.activation_stats(["a", "b", "c", "d"], states) == {
        "accounts": 4, "without_credentials": 1, "credentials_issued": 1, "pending_verification": 0,
        "activated": 2, "expired": 0}


# ---- activation statistics per residence and over time ---------------------------------------------

_RESIDENCES = [("R2", "Le Clos"), ("R1", "Les Tilleuls"), ("R3", "Vide")]


def test_residence_stats_of_an_empty_tenant_are_empty():
    assert domain.residence_stats([], [], {}) == []


def test_a_residence_without_accounts_is_listed_with_zeros():
    [empty] = domain.residence_stats([("R3", "Vide")], [], {"a": "activated"})
    assert empty == {"ref": "R3", "name": "Vide", "accounts": 0, "without_credentials": 0, "credentials_issued": 0,
                     "pending_verification": 0, "activated": 0, "expired": 0}


def test_an_account_in_two_residences_counts_in_each_and_once_per_residence():
    memberships = [("R1", "a"), ("R1", "a"), ("R2", "a"), ("R1", "b"), ("R2", "c")]  # a: two lots in R1, one in R2
    states = {"a": "activated", "b": "credentials_issued", "c": "expired"}
    by_ref = {r["ref"]: r for r in domain.residence_stats(_RESIDENCES, memberships, states)}
    assert [r["ref"] for r in domain.residence_stats(_RESIDENCES, memberships, states)] == ["R2", "R1", "R3"]
    assert (by_ref["R1"]["accounts"], by_ref["R1"]["activated"], by_ref["R1"]["credentials_issued"]) == (2, 1, 1)
    assert (by_ref["R2"]["accounts"], by_ref["R2"]["activated"], by_ref["R2"]["expired"]) == (2, 1, 1)
    assert sum(r["accounts"] for r in by_ref.values()) == 4  # three accounts: a counts in R1 and R2


def test_closed_accounts_are_not_counted_in_their_residence():
    # Only the active accounts' memberships are given (SQL); a closed account's identity state is ignored.
    [residence] = domain.residence_stats([("R1", "Les Tilleuls")], [("R1", "open")],
                                         {"open": "pending_verification", "closed": "activated"})
    assert (residence["accounts"], residence["pending_verification"], residence["activated"]) == (1, 1, 0)
    assert domain.activation_stats(["open"], {"open": "pending_verification", "closed": "activated"})["activated"] == 0


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_month_periods_are_the_twelve_calendar_months_ending_with_the_current_one():
    starts = domain.period_starts(_at("2026-03-15T10:00:00"), "month")
    assert len(starts) == 12
    assert (starts[0], starts[-1]) == (date(2025, 4, 1), date(2026, 3, 1))


def test_week_periods_are_52_weeks_from_monday():
    starts = domain.period_starts(_at("2026-12-03T10:00:00"), "week")  # a Thursday
    assert len(starts) == 52
    assert starts[-1] == date(2026, 11, 30) and all(d.weekday() == 0 for d in starts)
    assert starts[-1] - starts[0] == timedelta(weeks=51)


def test_series_of_an_empty_tenant_is_all_zeros():
    series = domain.activation_series([], accounts=0, now=_at("2026-12-03T10:00:00"), period="month")
    assert series["period"] == "month" and series["activated_before"] == 0
    assert {(p["activated"], p["cumulative"], p["cumulative_share"]) for p in series["points"]} == {(0, 0, 0.0)}


def test_series_counts_per_month_and_accumulates_from_older_activations():
    activated = [_at("2024-05-01T00:00:00"),                              # before the window
                 _at("2026-01-31T22:59:59"), _at("2025-12-31T23:00:00"),  # January in Paris (+01:00), both bounds
                 _at("2026-03-02T08:00:00"),
                 _at("2026-03-20T08:00:00")]                              # after now (another clock): current month
    series = domain.activation_series(activated, accounts=10, now=_at("2026-03-15T10:00:00"), period="month")
    points = {p["start"]: p for p in series["points"]}
    assert series["activated_before"] == 1
    assert points["2025-12-01"] == {"start": "2025-12-01", "activated": 0, "cumulative": 1, "cumulative_share": 0.1}
    assert points["2026-01-01"]["activated"] == 2 and points["2026-02-01"]["cumulative"] == 3
    assert points["2026-03-01"] == {"start": "2026-03-01", "activated": 2, "cumulative": 5, "cumulative_share": 0.5}
    assert series["points"][-1]["start"] == "2026-03-01"


def test_periods_start_at_midnight_in_paris_summer_and_winter():
    # 31 March 22:30 UTC is 1 April 00:30 in Paris (summer time, +02:00): April, not March.
    series = domain.activation_series([_at("2026-03-31T22:30:00"), _at("2026-03-31T21:30:00")], accounts=2,
                                      now=_at("2026-04-10T10:00:00"), period="month")
    assert [(p["start"], p["activated"]) for p in series["points"][-2:]] == [("2026-03-01", 1), ("2026-04-01", 1)]
    # On 30 November at 23:30 UTC it is already 1 December in Paris (+01:00): the current month is December.
    assert domain.period_starts(_at("2026-11-30T23:30:00"), "month")[-1] == date(2026, 12, 1)


def test_series_per_week():
    # Monday 30 November starts at 23:00 UTC on the Sunday (Paris, +01:00).
    series = domain.activation_series([_at("2026-11-29T23:00:00"), _at("2026-11-29T22:59:59")], accounts=3,
                                      now=_at("2026-12-03T10:00:00"), period="week")
    assert [p["activated"] for p in series["points"][-2:]] == [1, 1]
    assert series["points"][-1]["cumulative_share"] == round(2 / 3, 4)

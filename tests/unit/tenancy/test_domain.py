"""Pure rules of tenancy: API keys, login URLs, directory cross-checks, activation counting."""

from __future__ import annotations

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

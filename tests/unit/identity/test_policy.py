"""The password policy: the guide's five criteria and the rules that strengthen them."""

from __future__ import annotations

import pytest

from services.identity.policy import check_password


def _failed(result) -> set[str]:
    return {c.code for c in result.criteria if not c.ok}


def test_labels_are_the_guides_in_order():
    result = check_password("")
    assert [c.label for c in result.criteria] == [
        "Au moins 6 caractères", "Au moins une majuscule", "Au moins une minuscule", "Au moins un chiffre",
        "Au moins un caractère spécial"]
    assert _failed(result) == {"min_length", "upper", "lower", "digit", "special"}
    assert not result.ok


@pytest.mark.parametrize(("password", "missing"), [
    ("Ab1!x", {"min_length"}),
    ("ab1!xyz", {"upper"}),
    ("AB1!XYZ", {"lower"}),
    ("Abc!xyz", {"digit"}),
    ("Abc1xyz", {"special"}),
    ("Abc1 xyz", set()),          # a space is neither letter nor digit: special
    ("Vue-sur-mer-42", set()),
])
def test_each_criterion(password, missing):
    assert _failed(check_password(password)) == missing


def test_minimum_length_is_configurable_but_never_below_six():
    assert _failed(check_password("Vue-s1", min_length=10)) == {"min_length"}
    assert check_password("Vue-s1", min_length=10).criteria[0].label == "Au moins 10 caractères"
    assert check_password("Vue-s1", min_length=3).criteria[0].label == "Au moins 6 caractères"


def test_unicode_is_accepted_and_counted_in_characters():
    # "Été" letters are letters (É upper, é lower), the euro sign is special; 6 characters.
    assert check_password("Été2€x").ok
    # Counted in characters, not bytes: 5 characters of 2 bytes each are still 5.
    assert _failed(check_password("Éé2€é")) == {"min_length"}
    # NFKC: the ligature "ﬁ" becomes "fi" (2 characters) and a full-width digit a digit.
    assert check_password("Aﬁ!３x").ok


def test_long_passwords_accepted_and_never_truncated():
    long = "Aa1!" + "x" * 124
    assert len(long) == 128 and check_password(long).ok
    assert check_password("Aa1!" + "x" * 252).ok  # 256: the default maximum
    result = check_password("Aa1!" + "x" * 253)
    assert not result.ok and any("256" in p for p in result.problems)


@pytest.mark.parametrize("password", ["Azerty123!", "Motdepasse1!", "aZERTY123!", "P@ssw0rd"])
def test_common_passwords_refused_even_when_criteria_pass(password):
    result = check_password(password)
    assert not _failed(result)
    assert not result.ok and result.problems == ("Ce mot de passe est trop courant : choisissez-en un autre.",)


def test_password_containing_the_email_local_part_refused():
    result = check_password("Jean.Dupont-2026", email="jean.dupont@exemple.fr")
    assert result.problems == ("Le mot de passe ne doit pas contenir votre adresse email.",)
    assert check_password("Maison-Bleue-7", email="jean.dupont@exemple.fr").ok
    assert check_password("Maison-Bleue-7", email="jo@exemple.fr").ok  # too short a fragment to refuse


def test_password_containing_the_provisional_identifier_refused():
    result = check_password("k7q2m9xd-Maison!", identifier="K7Q2M9XD")
    assert result.problems == ("Le mot de passe ne doit pas contenir votre identifiant provisoire.",)


def test_confirmation_compared_after_normalisation():
    assert check_password("Aﬁ!３xyz", confirmation="Afi!3xyz").ok
    result = check_password("Vue-sur-mer-42", confirmation="Vue-sur-mer-43")
    assert result.problems == ("La confirmation ne correspond pas au mot de passe.",)


def test_json_shape():
    body = check_password("Vue-sur-mer-42").to_json()
    assert body["ok"] is True and body["problems"] == []
    assert body["criteria"][0] == {"code": "min_length", "label": "Au moins 6 caractères", "ok": True}

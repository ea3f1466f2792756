"""The person's forms against forged bodies: a text field sent as a file part is an invalid value that
each page refuses with its own clear answer, never a 500 (gateway/context.py ``form_text``)."""

from __future__ import annotations

import pytest

from tests.integration.gateway.conftest import ORIGIN, calls, forged_form, visible

REQUIRED = "Ce champ est obligatoire."
PROVISIONAL_MISSING = "Veuillez renseigner l'identifiant et le mot de passe provisoires"
LINK_INVALID = "Ce lien n'est plus valide"
# (path, the form as the page sends it, the field forged as a file part, the page's answer and its words)
FORMS = [
    ("/login/form", {"email": "jean@example.org", "password": "Secret-1!"}, "email", 422, REQUIRED),
    ("/activation", {"login": "ABCD2345", "password": "Prov-1!pass"}, "login", 422, PROVISIONAL_MISSING),
    ("/merge", {"login": "ABCD2345", "password": "Prov-1!pass"}, "login", 422, PROVISIONAL_MISSING),
    ("/password/forgot", {"identifier": "jean@example.org"}, "identifier", 422, "Mot de passe oublié"),
    ("/password/reset", {"token": "t0k3n", "password": "Nouveau-1!", "confirmation": "Nouveau-1!"}, "token", 400,
     LINK_INVALID),
    ("/activation/verify", {"token": "t0k3n"}, "token", 400, LINK_INVALID),
]


@pytest.mark.parametrize(("path", "fields", "forged", "status", "words"), FORMS,
                         ids=[f"{row[0]}:{row[2]}" for row in FORMS])
async def test_a_text_field_sent_as_a_file_gets_the_pages_refusal_not_a_500(system, path, fields, forged, status,
                                                                           words):
    form = forged_form(await system.csrf(), fields, forged)
    response = await system.client.post(system.page(path), data=form, headers={"Origin": ORIGIN},
                                        allow_redirects=False)
    page = visible(await response.text())
    assert response.status == status, (response.status, page[:300])
    assert words in page and "Une erreur est survenue" not in page
    if status == 422:  # refused as an empty field, before identity is asked anything
        assert [c for c in calls(system.identity) if c[0] == "POST"] == []

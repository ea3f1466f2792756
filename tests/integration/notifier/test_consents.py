"""Consents to electronic notification (issue 14): a fund call or convocation never emails an
account without consent (documents lists it in ``paper_account_ids``), and each consent change
is confirmed to the person who made it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.notifier import domain
from services.notifier.digest import DigestFlusher
from tests.integration.notifier.conftest import envelope, handle, unique_email


def fund_call(tenant: dict, title: str, accounts: list[uuid.UUID], paper: list[uuid.UUID]) -> object:
    return envelope(domain.DOCUMENT_PUBLISHED, {
        "document_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "title": title, "category": "LOT_APPEL",
        "category_label": "Appels de fonds", "date": "2026-01-15",
        "audience_account_ids": [str(a) for a in accounts], "paper_account_ids": [str(a) for a in paper]})


async def test_a_fund_call_without_consent_is_not_emailed(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    consented, revoked = uuid.uuid4(), uuid.uuid4()
    anne, bruno = unique_email("anne"), unique_email("bruno")
    upstreams.link(consented, anne)
    upstreams.link(revoked, bruno)
    await handle(notifier, fund_call(tenant, "Appel T1 (Anne)", [consented], []))
    await handle(notifier, fund_call(tenant, "Appel T1 (Bruno)", [revoked], [revoked]))
    clock.advance(seconds=61)
    assert await DigestFlusher(notifier).flush_once() == 1
    assert len(smtp_sink.to(anne)) == 1 and smtp_sink.to(bruno) == []
    assert await notifier.pool.fetchval("SELECT count(*) FROM digest_items") == 0


async def test_a_consent_change_is_confirmed_to_the_person(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    account = uuid.uuid4()
    email = unique_email("claire")
    person = upstreams.link(account, email)
    other = upstreams.link(account, unique_email("co-titulaire"))
    assert other != person
    payload = {"tenant_id": tenant["id"], "account_id": str(account), "account_ref": "C001",
               "person_id": str(person), "kind": "appels_de_fonds", "kind_label": "Appels de fonds", "given": True,
               "at": datetime(2026, 12, 3, 9, 30, tzinfo=UTC).isoformat(),
               "wording": "J'accepte de recevoir par voie électronique les appels de fonds (art. 35-2).",
               "wording_version": "2026-12-v1", "lots": [{"ref": "L12", "number": "12", "residence_ref": "R1"}],
               "means": "web"}
    await handle(notifier, envelope(domain.CONSENT_CHANGED, payload))
    [message] = smtp_sink.to(email)
    assert message.subject == "Votre accord pour la voie électronique a été enregistré"
    text = message.text()
    assert "Appels de fonds" in text and "C001" in text and "lot 12" in text and "art. 35-2" in text
    assert "jeudi 3 décembre 2026 à 10 h 30" in text
    assert len(smtp_sink.messages) == 1  # only the person who made the change
    await handle(notifier, envelope(domain.CONSENT_CHANGED, {**payload, "given": False}))
    assert smtp_sink.to(email)[-1].subject == "Votre accord pour la voie électronique a été retiré"
    assert "par courrier" in smtp_sink.to(email)[-1].text()

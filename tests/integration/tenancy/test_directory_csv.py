"""The CSV form of the accounts import: streamed, every error by line, all or nothing, idempotent."""

from __future__ import annotations

from tests.integration.tenancy.conftest import Tenancy, sample_directory

HEADER = "ref;role;display_name;email;lot_refs;council"


async def _put_csv(tenancy: Tenancy, tenant_id: str, text: str | bytes, *, content_type: str = "text/csv"):
    body = text.encode() if isinstance(text, str) else text
    return await tenancy.client.put("/api/v1/directory/accounts", data=body, headers={
        **tenancy.agency(tenant_id), "Content-Type": content_type})


async def _tenant_with_lots(tenancy: Tenancy) -> dict:
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], {k: v for k, v in sample_directory().items() if k != "accounts"})
    return tenant


async def test_csv_import_creates_accounts_and_a_second_send_changes_nothing(tenancy: Tenancy):
    tenant = await _tenant_with_lots(tenancy)
    text = "\ufeff" + "\r\n".join([
        HEADER,
        "C1;coproprietaire;M. Jean Dupont;jean.dupont@example.org;L1,L2;oui",
        'C2;locataire;"Martin; Claire";;L1;0',
        "C3;bailleur;SCI Horizon;;L3;",
    ]) + "\r\n"
    response = await _put_csv(tenancy, tenant["id"], text)
    assert response.status == 200, await response.text()
    assert (await response.json())["accounts"] == {"created": 3, "updated": 0, "unchanged": 0}
    events = {e["payload"]["ref"]: e["payload"] for e in await tenancy.account_events()}
    assert events["C1"]["council"] is True and events["C2"]["display_name"] == "Martin; Claire"
    assert [lot["ref"] for lot in events["C1"]["lots"]] == ["L1", "L2"]

    response = await _put_csv(tenancy, tenant["id"], text)
    assert (await response.json())["accounts"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert len(await tenancy.account_events()) == 3
    # The JSON form of the same accounts is the same directory: unchanged too.
    result = await tenancy.put_directory(tenant["id"], {"accounts": sample_directory()["accounts"]})
    assert result["accounts"] == {"created": 0, "updated": 1, "unchanged": 2}  # only C2's name differs


async def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(tenancy: Tenancy):
    tenant = await _tenant_with_lots(tenancy)
    response = await _put_csv(tenancy, tenant["id"], "lot_refs;display_name;role;ref\nL1;Mme A;locataire;CA")
    assert response.status == 200
    assert (await response.json())["accounts"]["created"] == 1


async def test_every_bad_line_is_reported_by_number_and_nothing_is_applied(tenancy: Tenancy):
    tenant = await _tenant_with_lots(tenancy)
    text = "\n".join([
        HEADER,
        "C1;coproprietaire;M. Jean Dupont;;L1;1",        # line 2: good
        "C2;proprietaire;Mme X;;L1;0",                    # line 3: bad role
        "C3;locataire;Mme Y;;L404;0",                     # line 4: unknown lot
        "C4;locataire;Mme Z;;L1",                         # line 5: missing a field
        'C5;locataire;"unterminated;;L1;0',               # line 6: malformed quoting
        "C1;locataire;Doublon;;L1;0",                     # line 7: duplicate ref
        "C8;locataire;Mme W;pas-un-email;L1;peut-etre",   # line 8: bad council value
        "C9;locataire;Mme V;v@example.org;L1;1",          # line 9: council but not coproprietaire
    ])
    response = await _put_csv(tenancy, tenant["id"], text)
    assert response.status == 422
    body = await response.json()
    paths = [e["path"] for e in body["errors"]]
    # Lines are checked one by one first (cross-line checks need every line to be valid).
    assert paths == ["line 3.role", "line 5", "line 6", "line 8.council", "line 8.email"]
    assert body["error_count"] == 5
    assert await tenancy.account_events() == []
    # Once the per-line errors are fixed, the cross-line ones are reported.
    fixed = "\n".join([HEADER, "C1;coproprietaire;M. Jean Dupont;;L1;1", "C3;locataire;Mme Y;;L404;0",
                       "C1;locataire;Doublon;;L1;0", "C9;locataire;Mme V;v@example.org;L1;1"])
    response = await _put_csv(tenancy, tenant["id"], fixed)
    assert response.status == 422
    assert sorted(e["path"] for e in (await response.json())["errors"]) == [
        "line 3.lot_refs[0]", "line 4.ref", "line 5.council"]
    assert await tenancy.account_events() == []


async def test_bad_header_encoding_and_content_type_are_refused(tenancy: Tenancy):
    tenant = await _tenant_with_lots(tenancy)
    response = await _put_csv(tenancy, tenant["id"], "ref;role;nom\nC1;locataire;X")
    assert response.status == 422
    assert (await response.json())["errors"][0]["path"] == "line 1"
    response = await _put_csv(tenancy, tenant["id"], HEADER.encode() + b"\nC1;locataire;Caf\xe9;;L1;0\n")
    assert response.status == 422
    assert (await response.json())["errors"] == [{"path": "line 2", "message": "not valid UTF-8"}]
    response = await _put_csv(tenancy, tenant["id"], "")
    assert response.status == 422
    response = await _put_csv(tenancy, tenant["id"], HEADER + "\n", content_type="application/json")
    assert response.status == 415


async def test_oversize_csv_is_413_and_nothing_is_applied(tenancy: Tenancy):
    tenant = await _tenant_with_lots(tenancy)
    lines = [HEADER] + [f"C{i};locataire;{'x' * 150};;L1;0" for i in range(15_000)]  # > 2 MB test limit

    async def chunks():
        for start in range(0, len(lines), 1000):
            yield ("\n".join(lines[start:start + 1000]) + "\n").encode()

    response = await tenancy.client.put("/api/v1/directory/accounts", data=chunks(), headers={
        **tenancy.agency(tenant["id"]), "Content-Type": "text/csv"})  # chunked: no Content-Length
    assert response.status == 413
    assert await tenancy.account_events() == []


async def test_a_csv_import_only_sees_the_agencys_own_lots(tenancy: Tenancy):
    a = await _tenant_with_lots(tenancy)
    b = await tenancy.onboard()
    response = await _put_csv(tenancy, b["id"], HEADER + "\nC1;locataire;X;;L1;0\n")
    assert response.status == 422
    assert [e["path"] for e in (await response.json())["errors"]] == ["line 2.lot_refs[0]"]
    response = await _put_csv(tenancy, a["id"], HEADER + "\nC1;locataire;X;;L1;0\n")
    assert (await response.json())["accounts"]["created"] == 1
    assert {e["tenant_id"] for e in await tenancy.account_events()} == {a["id"]}

"""GET /internal/audit's paging parameters: a bigint in ASCII digits, else a 422."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query", ["before=99999999999999999999", "before=-99999999999999999999",
                                   "before=1_0", "limit=%EF%BC%91", "before=9223372036854775808"])
async def test_audit_paging_parameter_out_of_bigint_range_or_not_ascii_digits_is_a_422(identity, query):
    """Found by fuzzing identity's OpenAPI document: a `before` beyond bigint was a 500."""
    response = await identity.get(f"/internal/audit?tenant_id={identity.tenant.id}&{query}", act="operator")
    assert response.status == 422
    assert (await response.json())["error"] == "validation_failed"


async def test_audit_paging_parameter_at_the_bigint_bounds_is_accepted(identity):
    for before in (2**63 - 1, -(2**63)):
        response = await identity.get(f"/internal/audit?tenant_id={identity.tenant.id}&before={before}",
                                      act="operator")
        assert response.status == 200
        assert (await response.json())["items"] == []

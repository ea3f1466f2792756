"""The operator commands, run as real processes: onboard prints the login URL and a working key;
import applies a CSV file all or nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.integration.tenancy.conftest import Tenancy

ROOT = Path(__file__).resolve().parents[3]


async def _run(dsn: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "TENANCY_DATABASE_URL": dsn, "PUBLIC_BASE_URL": "https://extranet.example.fr",
           "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.tenancy", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_onboard_then_import_a_csv_without_code(tenancy: Tenancy, tmp_path):
    code, out, err = await _run(tenancy.dsn, "onboard", "--client", "CLI01", "--societe", "02",
                                "--name", "Cabinet Martin", "--kind", "gerance", "--support-email", "aide@martin.fr")
    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["login_url"] == "https://extranet.example.fr/login?client=CLI01&societe=02"
    api_key = lines["api_key"].strip()
    verify = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": api_key},
                                       headers=tenancy.internal())
    assert (await verify.json())["tenant_id"] == lines["tenant_id"]

    code, _, err = await _run(tenancy.dsn, "onboard", "--client", "CLI01", "--societe", "02", "--name", "X",
                              "--kind", "syndic")
    assert code == 1 and "tenant_codes_taken" in err

    await tenancy.put_directory(lines["tenant_id"], {
        "residences": [{"ref": "R1", "name": "Les Tilleuls"}],
        "lots": [{"ref": "L1", "residence_ref": "R1", "number": "1"}]})
    good = tmp_path / "accounts.csv"
    good.write_text("ref;role;display_name;email;lot_refs;council\nC1;locataire;Mme A;a@example.org;L1;0\n",
                    encoding="utf-8")
    code, out, err = await _run(tenancy.dsn, "import", "--client", "CLI01", "--societe", "02", str(good))
    assert code == 0, err
    assert json.loads(out)["accounts"] == {"created": 1, "updated": 0, "unchanged": 0}

    bad = tmp_path / "bad.csv"
    bad.write_text("ref;role;display_name;email;lot_refs;council\nC2;locataire;B;;L1;0\nC3;chef;C;;L1;0\n",
                   encoding="utf-8")
    code, _, err = await _run(tenancy.dsn, "import", "--client", "CLI01", "--societe", "02", str(bad))
    assert code == 1 and "line 3.role" in err
    code, _, err = await _run(tenancy.dsn, "import", "--client", "NOPE", "--societe", "02", str(good))
    assert code == 1 and "tenant_not_found" in err
    assert [e["payload"]["ref"] for e in await tenancy.account_events()] == ["C1"]

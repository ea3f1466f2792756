"""The demo seed (`python -m scripts.seed_demo`) against the running system: complete and idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.flows import Account, enter_provisional, open_login
from tests.e2e.system import OPERATOR_TOKEN, ROOT, Tenant


def run_seed(system, state_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPERATOR_API_TOKEN": OPERATOR_TOKEN}
    return subprocess.run([sys.executable, "-m", "scripts.seed_demo", "--base-url", system.base_url,
                           "--state-dir", str(state_dir)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_seed_creates_both_agencies_once_and_its_credentials_work(system, journey, tmp_path):
    first = run_seed(system, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    state = json.loads((tmp_path / "demo-state.json").read_text())
    credentials_text = (tmp_path / "demo-credentials.txt").read_text()
    assert set(state["tenants"]) == {"SYNDIC", "GERANCE"}
    assert "client=DEMO&societe=SYNDIC" in credentials_text and "client=DEMO&societe=GERANCE" in credentials_text
    assert len(state["tenants"]["SYNDIC"]["credentials"]) == 5
    assert len(state["tenants"]["GERANCE"]["credentials"]) == 4
    assert len(state["tenants"]["SYNDIC"]["documents"]) == 8

    second = run_seed(system, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads((tmp_path / "demo-state.json").read_text()) == state
    assert (tmp_path / "demo-credentials.txt").read_text() == credentials_text
    assert '"created": 0' in second.stdout and "onboarded" not in second.stdout

    # The printed provisional credentials open the activation (and were not revoked by the rerun).
    saved = state["tenants"]["SYNDIC"]
    tenant = Tenant(saved["id"], "DEMO", "SYNDIC", "Syndic Démo des Tilleuls", system.operator, {})
    creds = saved["credentials"]["C005"]
    open_login(journey, tenant, shot=None)
    enter_provisional(journey, Account("C005", "M. Marc Petit", creds["login"], creds["password"]), shot=None)
    journey.see_heading("Sécuriser mon compte")

"""Static checks as tests (so they run with the README's test command): bandit over common/,
gateway/ and services/ with every accepted finding listed here with its reason, and ``pip check``.
The rule "no f-string in SQL or logs" is tests/unit/test_static_rules.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# (bandit check, file): why it is not a vulnerability. Keyed by file, so the same check in another file fails.
ACCEPTED = {
    ("B105", "common/settings.py"): "dev placeholder secret; production refuses placeholders (_refuse_placeholders)",
    ("B105", "gateway/settings.py"): "dev placeholder cookie secret, refused in production like the others",
    ("B105", "services/identity/settings.py"): "dev placeholder token key, refused in production (tested)",
    ("B105", "gateway/messages.py"): "French screen texts that mention 'mot de passe', not secrets",
    ("B105", "gateway/pages_activation.py"): "the URL path /activation/password",
    ("B105", "services/identity/domain.py"): "the provisional login alphabet and the flow step name 'password'",
    ("B105", "services/identity/repository.py"): "SQL constants whose names contain PASSWORD or TOKEN",
    ("B105", "services/notifier/domain.py"): "event routing keys (identity.password_...)",
    ("B104", "gateway/edge.py"): "'0.0.0.0' is a label for a request without peer (unix socket), never bound",
    ("B704", "services/notifier/devsink.py"): "Markup over text escaped first; the URL pattern excludes quotes and <>",
    ("B701", "services/notifier/rendering.py"): "the text/plain email environment; the HTML one autoescapes",
    ("B404", "services/notifier/preview.py"): "the preview command runs headless Chromium (developer tool)",
    ("B603", "services/notifier/preview.py"): "fixed argv (Chromium path and a temporary file), no shell",
    ("B608", "services/tenancy/repository.py"): "module-level SQL constants joined at import (the directory "
                                                "import's shared event CTE); no input reaches them, values are $n",
}


def _bandit() -> dict:
    result = subprocess.run([str(BIN / "bandit"), "-c", "pyproject.toml", "-r", "common", "gateway", "services",
                             "-f", "json", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def test_bandit_finds_nothing_beyond_the_reviewed_findings():
    report = _bandit()
    assert report["errors"] == [], report["errors"]
    unexpected = [f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
                  for r in report["results"] if (r["test_id"], r["filename"]) not in ACCEPTED]
    assert unexpected == [], "new bandit findings (fix them, or review and add to ACCEPTED):\n" + "\n".join(unexpected)
    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 5000, "bandit scanned almost nothing: wrong paths?"


def test_pip_check_finds_no_broken_requirement():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

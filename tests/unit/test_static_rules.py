"""Static rules ruff cannot express: no f-string (or % / .format) SQL, no f-string log events.

SQL built from strings is how injection starts; log events must be constant keys with
key-value context (STYLE.md). The one legitimate exception, an identifier that cannot be a
query parameter (CREATE DATABASE), is marked on its line with `# sql-identifier-checked`
after its value was checked against a strict pattern.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["common", "gateway", "services", "scripts", "bench"]
SQL_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table", "cursor",
               "prepare", "copy_from_query"}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg"}
LOGGER_NAMES = {"log", "logger", "_log", "LOG", "self.log", "self._log"}
MARKER = "sql-identifier-checked"


def is_dynamic_string(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant))


def receiver_name(node: ast.Attribute) -> str:
    return ast.unparse(node.value)


def violations() -> list[str]:
    found = []
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            for node in ast.walk(ast.parse(text, filename=str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if node.func.attr in SQL_METHODS and is_dynamic_string(node.args[0]):
                    if MARKER not in lines[node.lineno - 1]:
                        found.append(f"{where}: SQL built from a formatted string")
                if (node.func.attr in LOG_METHODS and receiver_name(node.func) in LOGGER_NAMES
                        and is_dynamic_string(node.args[0])):
                    found.append(f"{where}: log event built from a formatted string")
    return found


def test_no_formatted_sql_and_no_formatted_log_events():
    assert violations() == []


def test_the_rule_catches_what_it_forbids(tmp_path, monkeypatch):
    bad = tmp_path / "common"
    bad.mkdir()
    (bad / "bad.py").write_text(
        "async def f(conn, log, name):\n"
        "    await conn.execute(f'DELETE FROM t WHERE name = {name}')\n"
        "    await conn.fetch('SELECT %s' % name)\n"
        "    log.info(f'user {name} logged in')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["SOURCE_DIRS"]), "SOURCE_DIRS", ["common"])
    assert len(violations()) == 3


# Pooled connections go back without a reset query (common.db.keep_session): a statement that leaves
# session state behind would leak it to the next request. Only the connections that are not pooled
# may take it: the migration lock (common/db.py) and the relay's LISTEN (common/relay.py).
SESSION_STATE = [
    (r"pg_advisory_lock\s*\(", "a session advisory lock (use pg_advisory_xact_lock)"),
    (r"[\"';]\s*LISTEN\b", "LISTEN"),  # a statement (a string or after a ';') that starts with it
    (r"[\"';]\s*SET\s+(?!LOCAL\b)(?:SESSION\s+)?[a-z_.]+\s*(?:=|TO\b)", "a session SET (use SET LOCAL)"),
    (r"CREATE\s+TEMP(?:ORARY)?\s+TABLE(?![^;\"]*ON\s+COMMIT\s+DROP)", "a temporary table outliving its transaction"),
    (r"WITH\s+HOLD", "a cursor outliving its transaction"),
]
NOT_POOLED = {"common/db.py", "common/relay.py"}


def session_state_violations(text: str) -> list[str]:
    import re

    return [what for pattern, what in SESSION_STATE if re.search(pattern, text, flags=re.IGNORECASE)]


def test_no_pooled_statement_leaves_session_state_behind():
    found = []
    for directory in ("common", "services", "gateway"):
        for path in sorted((ROOT / directory).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in NOT_POOLED:
                continue
            found += [f"{relative}: {what}" for what in session_state_violations(path.read_text(encoding="utf-8"))]
    assert found == []


def test_the_session_state_rule_sees_what_it_looks_for():
    assert session_state_violations('conn.execute("SET work_mem = \'64MB\'")') == ["a session SET (use SET LOCAL)"]
    assert session_state_violations('"SET LOCAL jit = off; SET LOCAL work_mem = \'64MB\'"') == []
    assert session_state_violations('"UPDATE persons SET status = $2"') == []
    assert session_state_violations('"""\nINSERT INTO d VALUES (1)\nON CONFLICT (id) DO UPDATE\nSET n = 2"""') == []
    assert session_state_violations('"""\nSET search_path TO x"""') == ["a session SET (use SET LOCAL)"]
    assert session_state_violations('"SELECT pg_advisory_lock($1)"') == [
        "a session advisory lock (use pg_advisory_xact_lock)"]
    assert session_state_violations('"SELECT pg_advisory_xact_lock($1)"') == []
    assert session_state_violations('"CREATE TEMPORARY TABLE t (x int) ON COMMIT DROP"') == []
    assert session_state_violations('"CREATE TEMP TABLE t (x int)"') == ["a temporary table outliving its transaction"]
    assert session_state_violations('await conn.execute("LISTEN outbox")') == ["LISTEN"]

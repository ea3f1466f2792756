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

"""docs/operations.md: every command in it is checked against the real tool, or run.

Each line of a ``sh`` block is dispatched by its program: `docker compose`, `kubectl`,
`python -m`, `pg_dump`/`pg_restore`, `openssl`, `cp`, `curl`, `docker build`. A program the
checker does not know fails the test, so a new command cannot slip in unchecked. The blocks
marked ``<!-- checked: NAME -->`` are run for real on a freshly migrated database.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.deploy.tools import ROOT, binary, run

DOC = ROOT / "docs" / "operations.md"
_BLOCK = re.compile(r"```(sh|sql)\n(.*?)```", re.DOTALL)
_CHECKED = re.compile(r"<!-- checked: ([a-z]+) -->\n```(?:sh|sql)\n(.*?)```", re.DOTALL)
_REDIRECTS = {">", "<", "|", ">>", "2>", "&&"}


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def command_lines(text: str) -> list[str]:
    """Every command of the ``sh`` blocks (continuations joined, comments dropped)."""
    lines = []
    for kind, body in _BLOCK.findall(text):
        if kind != "sh":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def checked_block(name: str) -> str:
    blocks = dict(_CHECKED.findall(doc_text()))
    assert name in blocks, f"docs/operations.md lost its checked block {name!r}"
    return blocks[name]


def _words(line: str) -> list[str]:
    """The command's own words: up to the first redirection or pipe."""
    words = []
    for word in shlex.split(line):
        if word in _REDIRECTS:
            break
        words.append(word)
    return words


@functools.cache
def _help(*args: str) -> str:
    result = run(list(args))
    return result.stdout + result.stderr


def _option_known(option: str, help_text: str) -> bool:
    name = option.split("=", 1)[0]
    if name.startswith("--"):
        return re.search(re.escape(name) + r"(?![\w-])", help_text) is not None
    return re.search(r"(^|[\s,\[])" + re.escape(name) + r"(?![\w-])", help_text, flags=re.MULTILINE) is not None


def _options_problems(options: list[str], help_text: str, what: str) -> list[str]:
    return [f"{what}: unknown option {o}" for o in options if o.startswith("-") and not _option_known(o, help_text)]


# ---- one checker per program ------------------------------------------------------------------

def check_python(words: list[str]) -> list[str]:
    assert words[:2] == ["python", "-m"], words
    module, rest = words[2], words[3:]
    if not (ROOT / Path(*module.split("."))).with_suffix(".py").exists() and not (
            ROOT / Path(*module.split(".")) / "__main__.py").exists():
        return [f"python -m {module}: no such module"]
    help_text = _help(sys.executable, "-m", module, "--help")
    choices = re.search(r"\{([a-z,_-]+)\}", help_text)
    problems = []
    positional = [w for w in rest if not w.startswith("-")]
    if positional and choices and positional[0] not in choices.group(1).split(","):
        problems.append(f"python -m {module}: no sub-command {positional[0]!r} (has {choices.group(1)})")
    return problems + _options_problems(rest, help_text, f"python -m {module}")


def check_compose(words: list[str]) -> list[str]:
    rest, files, problems = words[2:], [], []
    while rest and rest[0].startswith("-"):
        if rest[0] == "-f":
            files.append(rest[1])
            rest = rest[2:]
        else:
            problems += _options_problems([rest[0]], _help(binary("docker-compose"), "--help"), "docker compose")
            rest = rest[1:]
    problems += [f"docker compose -f {f}: no such file" for f in files if not (ROOT / f).exists()]
    subcommand, args = rest[0], rest[1:]
    help_text = _help(binary("docker-compose"), subcommand, "--help")
    if "Usage:" not in help_text or "unknown command" in help_text:
        return [*problems, f"docker compose {subcommand}: no such sub-command"]
    options, inner = [], []
    for index, word in enumerate(args):
        if not word.startswith("-") and subcommand in ("run", "exec"):
            inner = args[index + 1:]  # after the service name: the command run in the container
            break
        options.append(word)
    problems += _options_problems(options, help_text, f"docker compose {subcommand}")
    return problems + (check_words(inner) if inner else [])


def check_kubectl(words: list[str]) -> list[str]:
    args = words[1:]
    inner = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    globals_, rest = [], []
    skip = False
    for word in args:
        if skip:
            skip = False
        elif word in ("-n", "--namespace"):
            globals_.append(word)
            skip = True
        else:
            rest.append(word)
    verbs = [w for w in rest if not w.startswith("-")]
    help_text = _help(binary("kubectl"), *verbs, "--help") + _help(binary("kubectl"), "options")
    problems = []
    if "Usage:" not in help_text or "unknown command" in help_text:
        problems.append(f"kubectl {' '.join(verbs)}: no such command")
    problems += _options_problems([w for w in rest if w.startswith("-")], help_text, f"kubectl {verbs[0]}")
    for previous, word in itertools.pairwise(rest):
        # Paths of the repository given to -k/-f or kustomize (never `deploy/notifier`, a resource).
        if previous in ("-k", "-f", "kustomize") and word.startswith("deploy/") and not (ROOT / word).exists():
            problems.append(f"kubectl: no such path {word}")
    if verbs[:1] == ["kustomize"]:
        result = run([binary("kubectl"), *rest], cwd=ROOT)
        if result.returncode != 0:
            problems.append(f"kubectl kustomize failed: {result.stderr.strip()}")
    return problems + (check_words(inner) if inner else [])


def check_postgres_tool(words: list[str]) -> list[str]:
    return _options_problems(words[1:], _help(words[0], "--help"), words[0])


def check_openssl(words: list[str]) -> list[str]:
    result = run(words)
    if result.returncode != 0 or not re.fullmatch(r"[0-9a-f]{64}\n", result.stdout):
        return [f"{' '.join(words)} does not print 32 random bytes in hex: {result.stderr}"]
    return []


def check_cp(words: list[str]) -> list[str]:
    return [] if (ROOT / words[1]).exists() else [f"cp: {words[1]} does not exist"]


def check_curl(words: list[str]) -> list[str]:
    """Not run (it needs the whole system): the route it calls must exist in a service."""
    url = next(w for w in words if w.startswith(("http://", "https://")))
    path = re.sub(r"\$[A-Z_]+", "{x}", urlsplit(url).path)
    method = words[words.index("-X") + 1] if "-X" in words else "GET"
    routes = "".join(p.read_text(encoding="utf-8") for p in ROOT.glob("services/*/routes*.py"))
    pattern = re.escape(f'@routes.{method.lower()}("') + re.sub(r"\\\{x\\\}", r"\\{[a-z_]+\\}", re.escape(path))
    return [] if re.search(pattern + r'"\)', routes) else [f"curl: no service serves {method} {path}"]


def check_docker(words: list[str]) -> list[str]:
    if words[1] == "compose":
        return check_compose(words)
    if words[1] == "build":  # no Docker engine here: the recipe is linted by test_dockerfile.py
        return [] if (ROOT / words[-1] / "Dockerfile").exists() else ["docker build: no Dockerfile in the context"]
    return [f"docker {words[1]}: not a command this checker knows"]


CHECKERS = {"python": check_python, "docker": check_docker, "kubectl": check_kubectl, "pg_dump": check_postgres_tool,
            "pg_restore": check_postgres_tool, "openssl": check_openssl, "cp": check_cp, "curl": check_curl}


def check_words(words: list[str]) -> list[str]:
    checker = CHECKERS.get(words[0])
    return checker(words) if checker else [f"{words[0]}: no checker for this program (add one, or do not use it)"]


# ---- the tests --------------------------------------------------------------------------------

def test_every_command_of_the_guide_is_known_to_its_tool():
    lines = command_lines(doc_text())
    assert len(lines) > 20
    problems = [f"{line}\n    -> {p}" for line in lines for p in check_words(_words(line))]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(("line", "expected"), [
    ("kubectl -n moncompte rollout restart deployment --everything", "unknown option --everything"),
    ("kubectl apply -k deploy/k9s", "no such path deploy/k9s"),
    ("docker compose -f deploy/compose.yml up -d", "no such file"),
    ("docker compose -f deploy/compose.yaml up --detach-all", "unknown option --detach-all"),
    ("docker compose -f deploy/compose.yaml exec -T postgres pg_dump --formats=custom x", "unknown option --formats"),
    ("python -m common.parked relist --queue notifier", "no sub-command 'relist'"),
    ("python -m common.parked list --queues notifier", "unknown option --queues"),
    ("python -m services.billing migrate", "no such module"),
    ("pg_restore --cleanup x.dump", "unknown option --cleanup"),
    ("curl -X DELETE https://h/api/v1/tenants/$TENANT_ID/api-keys", "no service serves DELETE"),
    ("rsync -a x y", "no checker"),
])
def test_a_wrong_command_is_refused(line, expected):
    problems = check_words(_words(line))
    assert any(expected in p for p in problems), problems


def test_the_metrics_the_guide_names_are_registered_by_the_processes():
    declared = set()
    for path in [*ROOT.glob("common/*.py"), *ROOT.glob("gateway/*.py"), *ROOT.glob("services/*/*.py")]:
        source = path.read_text(encoding="utf-8")
        for kind, name in re.findall(r"\b(Counter|Gauge|Histogram)\(\s*\"([a-z_]+)\"", source):
            declared |= {"Counter": {f"{name}_total"}, "Gauge": {name},
                         "Histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"}}[kind]
    section = doc_text().split("## 8. Watch", 1)[1].split("## 9.", 1)[0]
    spans = [span for line in section.splitlines() if line.startswith("|") for span in re.findall(r"`([^`]+)`", line)]
    named = {name for span in spans for name in re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b(?![(\w])", span)}
    assert named, "no metric found in section 8"
    assert named <= declared, f"not registered by any process: {sorted(named - declared)}"


def _server_url(dsn: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=""))


def _bash(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **env}, cwd=env.get("CWD"))


async def test_migrate_then_the_queries_then_backup_and_restore_as_documented(fresh_database, tmp_path):
    dsn = fresh_database
    database = urlsplit(dsn).path.lstrip("/")
    migrate = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.notifier", "migrate"], capture_output=True, text=True,
        timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "NOTIFIER_DATABASE_URL": dsn, "ENVIRONMENT": "development", "LOG_JSON": "true"})
    assert migrate.returncode == 0, migrate.stderr

    event_id = uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO deliveries (event_id, recipient, event_type, message_id, status, last_error) "
                           "VALUES ($1, 'a@example.org', 'identity.password_changed', 'm1', 'retrying', '451 later')",
                           event_id)
        await conn.execute("INSERT INTO outbox (id, type, occurred_at, payload) VALUES ($1, 'x.y', now(), '{}')",
                           event_id)
        (delivery,) = await conn.fetch(checked_block("deliveries"))
        assert (delivery["status"], delivery["emails"], delivery["example_error"]) == ("retrying", 1, "451 later")
        (outbox,) = await conn.fetch(checked_block("outbox"))
        assert outbox["pending"] == 1

        env = {"PGURL": _server_url(dsn), "DB": database, "CWD": str(tmp_path)}
        backup = await asyncio.to_thread(_bash, checked_block("backup"), **env)
        assert backup.returncode == 0, backup.stderr
        assert (tmp_path / f"{database}.dump").stat().st_size > 0

        await conn.execute("DELETE FROM deliveries")
        await conn.execute("DELETE FROM outbox")
    finally:
        await conn.close()

    restore = await asyncio.to_thread(_bash, checked_block("restore"), **env)
    assert restore.returncode == 0, restore.stderr
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM deliveries WHERE event_id = $1", event_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE id = $1", event_id) == 1
    finally:
        await conn.close()


async def test_a_restore_of_a_corrupt_dump_fails_and_changes_nothing(fresh_database, tmp_path):
    dsn = fresh_database
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    finally:
        await conn.close()
    database = urlsplit(dsn).path.lstrip("/")
    (tmp_path / f"{database}.dump").write_bytes(b"PGDMP not really a dump")
    restore = await asyncio.to_thread(_bash, checked_block("restore"), PGURL=_server_url(dsn), DB=database,
                                      CWD=str(tmp_path))
    assert restore.returncode != 0
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM kept") == 1
    finally:
        await conn.close()

"""The image: hadolint, the rules of issue 9, and what the build context holds.

No Docker engine runs here, so the image is never built in CI: these tests check the recipe.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy import dockerfile_rules as rules
from tests.deploy.tools import DOCKERFILE, DOCKERIGNORE, ROOT, binary, run


def hadolint(path) -> subprocess.CompletedProcess:
    # --no-fail is never passed: any finding (even "info") fails the lint.
    return run([binary("hadolint"), "--no-color", str(path)], cwd=path.parent)


def test_hadolint_accepts_the_dockerfile():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_a_broken_dockerfile(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN apt-get update && apt-get install gcc\nRUN cd /app && pip install .\n")
    result = hadolint(broken)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3003"):  # latest tag, unpinned apt package, cd in RUN
        assert rule in result.stdout


def test_the_dockerfile_keeps_every_rule_of_the_issue():
    assert rules.problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def _mutate(old: str, new: str) -> str:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text, f"the Dockerfile changed: {old!r} not found"
    return text.replace(old, new)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("USER 10001:10001\n", "", "no USER"),
    ("USER 10001:10001\n", "USER root\n", "non-root"),
    ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK"),
    ("FROM ${PYTHON_IMAGE} AS runtime\n", "FROM python:3.12 AS runtime\n", "slim Python 3.11"),
    ("WORKDIR /app\n", "WORKDIR /app\nRUN apt-get install -y --no-install-recommends gcc libpq-dev\n", "build tools"),
    ("WORKDIR /app\n", "WORKDIR /app\nRUN pip install --no-cache-dir asyncpg==0.30.0\n", "pip install in the final"),
    ("ENV PATH=/opt/venv/bin:$PATH", "ENV INTERNAL_AUTH_SECRET=abc PATH=/opt/venv/bin:$PATH", "secret baked"),
    ("COPY --from=build /opt/venv /opt/venv\n", "COPY --from=build /opt/venv /opt/venv\nCOPY deploy/.env /app/.env\n",
     ".env file"),
])
def test_the_rules_refuse_a_broken_dockerfile(old, new, expected):
    found = rules.problems(_mutate(old, new))
    assert any(expected in problem for problem in found), found


def test_a_single_stage_dockerfile_is_refused():
    text = "FROM python:3.11-slim\nUSER 10001\nHEALTHCHECK CMD true\nCMD [\"python\"]\n"
    assert rules.problems(text) == ["not multi-stage: build in one stage, copy the result into a clean final stage"]


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_private():
    ignore = rules.dockerignore_rules(DOCKERIGNORE.read_text(encoding="utf-8"))
    sources = rules.copy_sources(DOCKERFILE.read_text(encoding="utf-8"))
    assert sources, "no COPY found"
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        kept = [p for p in files if not rules.excluded(ignore, p.relative_to(ROOT).as_posix())]
        assert kept, f"COPY {source}: .dockerignore leaves it out of the build context"
    # Every migration and template the services read at run time reaches the image.
    for data in [*ROOT.glob("services/*/migrations/*.sql"), *ROOT.glob("common/migrations/*.sql")]:
        assert not rules.excluded(ignore, data.relative_to(ROOT).as_posix()), data
    for private in (".git/config", ".venv/bin/python", "deploy/.env", "services/identity/.env", "tests/conftest.py",
                    "var/blobs/x", "common/__pycache__/db.cpython-311.pyc", "bench/x.py", "docs/operations.md"):
        assert rules.excluded(ignore, private), f"{private} would be sent to the build context"


def test_dockerignore_matching_follows_docker_semantics():
    ignore = rules.dockerignore_rules("*\n!keep/\nkeep/**/secret*\n!keep/a/secret.pub\n")
    assert rules.excluded(ignore, "other.txt")
    assert not rules.excluded(ignore, "keep/a/file.py")
    assert rules.excluded(ignore, "keep/a/secret.key")
    assert rules.excluded(ignore, "keep/secret.key")  # ** matches no directory too
    assert not rules.excluded(ignore, "keep/a/secret.pub")  # the last matching rule wins

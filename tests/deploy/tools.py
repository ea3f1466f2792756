"""Helpers of the deployment tests: the validator binaries, the deployment files, parsing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_UI = DEPLOY / "compose.ui.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
SECRET_TEMPLATE = K8S / "secret.example.yaml"
KUSTOMIZATION = K8S / "kustomization.yaml"

_ENV_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def binary(name: str) -> str:
    """The validator ``name`` installed by the dev extra (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: install the dev extra (pip install -e '.[dev]')"
    return found


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a validator; never raises on a non-zero exit (the tests look at it)."""
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def env_file_lines(path: Path = ENV_EXAMPLE) -> list[tuple[str, str, bool]]:
    """``(name, value, active)`` per variable line; commented ``# NAME=value`` lines are inactive."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            value = match.group(3).split("  ")[0].strip() if match.group(1) else match.group(3)
            out.append((match.group(2), value, match.group(1) is None))
    return out


def active_env(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """The variables a dotenv file sets (commented lines excluded)."""
    return {name: value for name, value, active in env_file_lines(path) if active}


def compose_config(project_dir: Path, *files: Path) -> subprocess.CompletedProcess:
    """``docker-compose config --format json`` of ``files`` with ``project_dir/.env``."""
    args = [binary("docker-compose")]
    for file in files or (COMPOSE,):
        args += ["-f", str(file)]
    return run([*args, "--project-directory", str(project_dir), "config", "--format", "json"])


def resolved_compose(tmp_path: Path, *files: Path) -> dict:
    """The compose model as Docker Compose resolves it, with .env.example as deploy/.env."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    shutil.copy(ENV_EXAMPLE, project / ".env")
    result = compose_config(project, *files)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def process_of(command: list[str] | str | None) -> tuple[str, str] | None:
    """``(module, command)`` of ``python -m MODULE [COMMAND]``, else None."""
    if isinstance(command, str):
        command = command.split()
    if not command or "-m" not in command:
        return None
    index = command.index("-m")
    rest = command[index + 2:]
    return command[index + 1], (rest[0] if rest else "serve")


def k8s_files() -> list[Path]:
    """Every Kubernetes manifest (the kustomization is not a Kubernetes object)."""
    return sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


def k8s_docs(paths: list[Path] | None = None) -> list[dict]:
    """Every object of the manifests."""
    docs = []
    for path in paths or k8s_files():
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def dockerfile_env() -> dict[str, str]:
    """The ``ENV`` variables of the Dockerfile's final stage."""
    from tests.deploy.dockerfile_rules import final_stage, parse

    env: dict[str, str] = {}
    for instruction, args in final_stage(parse(DOCKERFILE.read_text(encoding="utf-8"))):
        if instruction == "ENV":
            for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", args):
                env[name] = value
    return env

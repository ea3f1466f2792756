"""The variables the deployment files set are exactly those the settings classes read.

The settings classes are read at test time (tests/deploy/settings_env.py): a setting added to a
class and missing from deploy/.env.example fails here, and so does a variable set in compose,
the manifests or the image that no class reads (a typo would otherwise be silently ignored,
since the classes use ``extra="ignore"``). Each process's settings are also loaded, in
production mode, from exactly what compose and Kubernetes would give it.
"""

from __future__ import annotations

import re
import secrets

import pytest
import yaml
from pydantic import SecretStr

from common.settings import PLACEHOLDER_MARKERS, SettingsError, load_settings
from tests.deploy import k8s_rules, settings_env
from tests.deploy.tools import (
    COMPOSE,
    ENV_EXAMPLE,
    SECRET_TEMPLATE,
    active_env,
    dockerfile_env,
    env_file_lines,
    k8s_docs,
    process_of,
    resolved_compose,
)

_NOT_SETTINGS = re.compile(r"^(PATH|PYTHON[A-Z_]*|PIP_[A-Z_]*)$")  # the interpreter's own variables


# ---- the checks, as functions of the files' content (so broken copies can be fed) ------------

def env_example_problems(lines: list[tuple[str, str, bool]], compose_text: str) -> list[str]:
    """.env.example must list every variable a class reads, and nothing else but compose's own."""
    names = [name for name, _value, _active in lines]
    found = [f"{name} is listed twice" for name in sorted({n for n in names if names.count(n) > 1})]
    read = settings_env.all_env_names()
    for name in sorted(read - set(names)):
        found.append(f"{name} is read by {', '.join(settings_env.readers(name))} but missing from .env.example "
                     "(python -m tests.deploy.settings_env prints it with its default)")
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
    for name, _value, active in lines:
        if name not in read and not (active and name in interpolated):
            found.append(f"{name} is read by no settings class and not used by compose.yaml (a typo?)")
    return found


def compose_env_problems(raw: dict, example: dict[str, str]) -> list[str]:
    """Each app service's `environment:` holds only variables its own class reads, none set in .env."""
    found = []
    for name, service in raw["services"].items():
        process = process_of(service.get("command"))
        if not process:
            continue
        reads = settings_env.env_names(process[0])
        for variable in service.get("environment") or {}:
            if variable not in reads:
                found.append(f"compose service {name} sets {variable}, which {process[0]} does not read")
            if variable in example:
                found.append(f"compose service {name} sets {variable}, silently overriding .env's value")
    return found


def k8s_env_problems(docs: list[dict], template_text: str) -> list[str]:
    """ConfigMap, Secret template and container env hold only read variables, secrets in the Secret."""
    found = []
    read = settings_env.all_env_names()
    (configmap,) = k8s_rules.by_kind(docs, "ConfigMap")
    secret_keys = _secret_keys(docs, template_text)
    for key in sorted(set(configmap["data"]) - read):
        found.append(f"ConfigMap key {key} is read by no settings class")
    for key in sorted(secret_keys - read):
        found.append(f"Secret template key {key} is read by no settings class")
    for key in sorted(set(configmap["data"]) & (settings_env.secret_env_names() | _urls_with_passwords(read))):
        found.append(f"{key} is a secret but sits in the ConfigMap")
    for workload in k8s_rules.by_kind(docs, "Deployment") + k8s_rules.by_kind(docs, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            module = process_of(container["command"])[0]
            reads = settings_env.env_names(module)
            for item in container.get("env") or []:
                if item["name"] not in reads:
                    found.append(f"{workload['metadata']['name']}/{container['name']} sets {item['name']}, "
                                 f"which {module} does not read")
            for required in _required_secrets(module) - secret_keys:
                found.append(f"{module} needs {required} in production: missing from the Secret template")
    return found


def _urls_with_passwords(names: set[str]) -> set[str]:
    return {n for n in names if n.endswith(("DATABASE_URL", "AMQP_URL"))}


def _secret_keys(docs: list[dict], template_text: str) -> set[str]:
    """Keys of the Secret template, the optional ones commented out included."""
    (secret,) = k8s_rules.by_kind(docs, "Secret") or k8s_docs([SECRET_TEMPLATE])
    optional = set(re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]*):", template_text, flags=re.MULTILINE))
    return set(secret["stringData"]) | optional


def _required_secrets(module: str) -> set[str]:
    """Variables production cannot start without: non-optional secrets and URLs holding passwords."""
    cls = settings_env.settings_class(module)
    required = {settings_env.field_env_names(cls, name)[0] for name, field in cls.model_fields.items()
                if field.annotation is SecretStr}
    return required | _urls_with_passwords(settings_env.env_names(module))


# ---- loading the settings as the processes will ----------------------------------------------

def _with_real_secrets(env: dict[str, str]) -> dict[str, str]:
    """The environment with each placeholder secret replaced by a strong random one."""
    out = dict(env)
    for name in settings_env.secret_env_names() & set(env):
        if any(marker in env[name].lower() for marker in PLACEHOLDER_MARKERS):
            out[name] = secrets.token_hex(32)
    return out


def _load(monkeypatch, module: str, env: dict[str, str]):
    for name in settings_env.all_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(settings_env.settings_class(module))


def _loopback_settings(settings) -> list[str]:
    """Fields still pointing at this container itself (a default meant for a laptop, not a deployment)."""
    return [name for name, value in settings.model_dump().items()
            if name != "public_base_url" and isinstance(value, str) and ("127.0.0.1" in value or "localhost" in value)]


def _image_env() -> dict[str, str]:
    return {k: v for k, v in dockerfile_env().items() if not _NOT_SETTINGS.match(k)}


# ---- the tests --------------------------------------------------------------------------------

def test_env_example_lists_exactly_the_settings():
    assert env_example_problems(env_file_lines(), COMPOSE.read_text(encoding="utf-8")) == []


def test_a_typo_or_a_missing_setting_in_env_example_is_refused():
    lines = env_file_lines()
    victim = next(name for name, _v, active in lines if active and name in settings_env.all_env_names())
    broken = [(("IDENTITY_ARGON2_TIME_COSTS" if n == victim else n), v, a) for n, v, a in lines]
    found = env_example_problems(broken, COMPOSE.read_text(encoding="utf-8"))
    assert any(p.startswith(f"{victim} is read by") for p in found), found
    assert any(p.startswith("IDENTITY_ARGON2_TIME_COSTS is read by no settings class") for p in found), found


def test_the_image_sets_only_variables_some_class_reads():
    assert set(_image_env()) <= settings_env.all_env_names()
    assert _image_env(), "the image sets no setting at all: expected HOST=0.0.0.0 per service"


def test_compose_environment_entries_are_read_by_their_service_and_do_not_shadow_env():
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert compose_env_problems(raw, active_env()) == []


def test_a_typo_in_compose_environment_is_refused():
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8").replace(
        "      TENANCY_DATABASE_URL: postgresql", "      TENANCY_DATABSE_URL: postgresql", 1))
    raw["services"]["gateway"]["environment"]["ENVIRONMENT"] = "production"  # also set in .env.example
    found = compose_env_problems(raw, active_env())
    assert "compose service migrate-tenancy sets TENANCY_DATABSE_URL, which services.tenancy does not read" in found
    assert "compose service gateway sets ENVIRONMENT, silently overriding .env's value" in found


@pytest.fixture(scope="module")
def compose_model(tmp_path_factory) -> dict:
    return resolved_compose(tmp_path_factory.mktemp("compose"))


def test_every_compose_container_gets_only_known_variables(compose_model):
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    for name, service in compose_model["services"].items():
        if process_of(service.get("command")):
            unknown = set(service["environment"]) - settings_env.all_env_names() - interpolated
            assert not unknown, f"{name}: {sorted(unknown)}"


def test_each_compose_service_starts_in_production_once_the_placeholders_are_replaced(compose_model, monkeypatch):
    for name, service in compose_model["services"].items():
        process = process_of(service.get("command"))
        if not process:
            continue
        env = {**_image_env(), **service["environment"]}
        with pytest.raises(SettingsError, match="placeholder"):
            _load(monkeypatch, process[0], env)  # .env.example as shipped cannot start a service
        settings = _load(monkeypatch, process[0], _with_real_secrets(env))
        assert settings.is_production, name
        assert settings.host == "0.0.0.0", name  # noqa: S104 (reachable from the other containers)
        assert "@postgres:5432/" in getattr(settings, "database_url", "@postgres:5432/"), name
        assert "@rabbitmq:5672/" in settings.amqp_url, name
        if process[1] == "serve":  # a migration job calls no other service
            assert _loopback_settings(settings) == [], f"{name} would call itself: set them in compose.yaml"


def test_kubernetes_sets_only_variables_each_process_reads_with_secrets_in_the_secret():
    docs = k8s_docs()
    assert k8s_env_problems(docs, SECRET_TEMPLATE.read_text(encoding="utf-8")) == []


def test_a_topology_setting_left_at_its_default_is_caught(monkeypatch):
    settings = _load(monkeypatch, "services.notifier", {"NOTIFIER_TENANCY_URL": "http://tenancy:8082"})
    assert "identity_url" in _loopback_settings(settings)
    assert "tenancy_url" not in _loopback_settings(settings)


def test_kubernetes_typos_and_misplaced_secrets_are_refused():
    docs = k8s_docs()
    (configmap,) = k8s_rules.by_kind(docs, "ConfigMap")
    configmap["data"]["GATEWAY_TRUSTED_PROXY"] = "10.0.0.0/8"
    configmap["data"]["INTERNAL_AUTH_SECRET"] = "x" * 40
    deployment = next(d for d in k8s_rules.by_kind(docs, "Deployment") if d["metadata"]["name"] == "notifier")
    deployment["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "IDENTITY_PORT", "value": "1"})
    template = SECRET_TEMPLATE.read_text(encoding="utf-8")
    secret = next(d for d in docs if d["kind"] == "Secret")
    del secret["stringData"]["IDENTITY_TOKEN_HASH_KEY"]
    found = k8s_env_problems(docs, template.replace("IDENTITY_TOKEN_HASH_KEY", "IDENTITY_TOKEN_KEY"))
    assert "ConfigMap key GATEWAY_TRUSTED_PROXY is read by no settings class" in found
    assert "INTERNAL_AUTH_SECRET is a secret but sits in the ConfigMap" in found
    assert "notifier/notifier sets IDENTITY_PORT, which services.notifier does not read" in found
    assert "services.identity needs IDENTITY_TOKEN_HASH_KEY in production: missing from the Secret template" in found


def test_each_kubernetes_container_starts_in_production_with_the_filled_secret(monkeypatch):
    docs = k8s_docs()
    (configmap,) = k8s_rules.by_kind(docs, "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    for workload in k8s_rules.by_kind(docs, "Deployment") + k8s_rules.by_kind(docs, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            module = process_of(container["command"])[0]
            env = {**_image_env(), **configmap["data"], **secret,
                   **{item["name"]: item["value"] for item in container.get("env") or []}}
            with pytest.raises(SettingsError):
                _load(monkeypatch, module, env)  # the template's placeholders never start a service
            settings = _load(monkeypatch, module, _with_real_secrets(env))
            assert settings.is_production
            if process_of(container["command"])[1] == "serve":
                assert _loopback_settings(settings) == [], f"{module} would call itself: set them in the ConfigMap"
            port = (container.get("ports") or [{}])[0].get("containerPort")
            if port:
                assert settings.port == port, f"{module} listens on {settings.port}, the pod exposes {port}"


def test_env_example_is_not_a_real_env_file():
    # deploy/.env (the filled copy) must never be committed; the example holds placeholders only.
    for name in settings_env.secret_env_names() & set(active_env()):
        assert any(m in active_env()[name].lower() for m in PLACEHOLDER_MARKERS), name
    assert ENV_EXAMPLE.name == ".env.example"

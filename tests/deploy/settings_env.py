"""The environment variables each process reads, found by introspecting its settings class.

Nothing here is a hard-coded list of variables: the processes are the packages that have a
``__main__.py`` (``gateway``, ``services.<name>``), each reads the one ``ProcessSettings``
subclass of its ``settings`` module, and a field is read from its validation alias(es) (the
shared unprefixed variables) or else from ``env_prefix + field name``, upper-cased
(pydantic-settings is case-insensitive by default).

``python -m tests.deploy.settings_env`` prints every variable with its default, one per line,
as a starting point when a new setting must be added to deploy/.env.example.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path

from pydantic import AliasChoices, SecretStr

from common.settings import ProcessSettings

ROOT = Path(__file__).resolve().parents[2]


def process_modules() -> list[str]:
    """Every runnable process: ``gateway`` and ``services.<name>`` with a ``__main__.py``."""
    modules = ["gateway"] if (ROOT / "gateway" / "__main__.py").exists() else []
    modules += sorted(f"services.{p.parent.name}" for p in (ROOT / "services").glob("*/__main__.py"))
    return modules


@cache
def settings_class(module: str) -> type[ProcessSettings]:
    """The settings class of the process ``module`` (the one subclass its settings module defines)."""
    settings_module = importlib.import_module(f"{module}.settings")
    found = [value for value in vars(settings_module).values()
             if isinstance(value, type) and issubclass(value, ProcessSettings)
             and value.__module__ == settings_module.__name__]
    if len(found) != 1:
        raise LookupError(f"{module}.settings defines {len(found)} settings classes, expected one")
    return found[0]


def field_env_names(cls: type[ProcessSettings], name: str) -> list[str]:
    """The variables the field ``name`` of ``cls`` is read from (first: the documented one)."""
    field = cls.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    if field.alias:
        return [field.alias.upper()]
    return [(cls.model_config.get("env_prefix", "") + name).upper()]


def env_names(module: str) -> set[str]:
    """Every variable the process ``module`` reads."""
    cls = settings_class(module)
    return {env for name in cls.model_fields for env in field_env_names(cls, name)}


def all_env_names() -> set[str]:
    """Every variable some process reads."""
    return set().union(*(env_names(module) for module in process_modules()))


def readers(variable: str) -> list[str]:
    """The process modules that read ``variable``."""
    return [module for module in process_modules() if variable in env_names(module)]


def secret_env_names() -> set[str]:
    """Variables of ``SecretStr`` fields (possibly optional): they belong in a Secret, not a ConfigMap."""
    names = set()
    for module in process_modules():
        cls = settings_class(module)
        for name, field in cls.model_fields.items():
            if "SecretStr" in str(field.annotation) or field.annotation is SecretStr:
                names.update(field_env_names(cls, name))
    return names


def defaults() -> dict[str, str]:
    """``variable -> default`` as text a dotenv file can hold (secrets shown as empty)."""
    out: dict[str, str] = {}
    for module in process_modules():
        cls = settings_class(module)
        for name, field in cls.model_fields.items():
            value = field.get_default(call_default_factory=True)
            if isinstance(value, SecretStr) or value is None:
                text = ""
            elif isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, tuple | list):
                text = "[" + ",".join(str(v) for v in value) + "]"
            else:
                text = str(value)
            out.setdefault(field_env_names(cls, name)[0], text)
    return out


def main() -> int:
    for variable, default in sorted(defaults().items()):
        print(f"{variable}={default}    # read by {', '.join(readers(variable))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

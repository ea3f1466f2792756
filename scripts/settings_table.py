"""Print (or check) the table of every environment variable the processes read, with defaults.

The table lives in README.md between the markers below; `python -m scripts.settings_table --write`
refreshes it, and tests/unit/test_readme.py fails when it is out of step with the settings classes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import AliasChoices, SecretStr

from common.settings import ServiceSettings

BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def settings_classes() -> list[tuple[str, type[ServiceSettings]]]:
    from gateway.settings import GatewaySettings
    from services.documents.settings import DocumentsSettings
    from services.identity.settings import IdentitySettings
    from services.notifier.settings import NotifierSettings
    from services.tenancy.settings import TenancySettings

    return [("gateway", GatewaySettings), ("identity", IdentitySettings), ("tenancy", TenancySettings),
            ("documents", DocumentsSettings), ("notifier", NotifierSettings)]


def env_name(cls: type[ServiceSettings], name: str) -> tuple[str, bool]:
    """The variable a field is read from, and whether it is shared (unprefixed)."""
    field = cls.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]), True
    if isinstance(alias, str):
        return alias, True
    return (cls.model_config.get("env_prefix", "") + name).upper(), False


def _default(cls, name) -> str:
    field = cls.model_fields[name]
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, SecretStr):
        return "(development value; required in production)" if value.get_secret_value() else "(required)"
    if value is None:
        return "(unset)"
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if text else '`""`'


def rows() -> list[tuple[str, str, str]]:
    shared: dict[str, tuple[str, set[str]]] = {}
    own: list[tuple[str, str, str]] = []
    for service, cls in settings_classes():
        for name in cls.model_fields:
            variable, is_shared = env_name(cls, name)
            if is_shared:
                _default_text, users = shared.setdefault(variable, (_default(cls, name), set()))
                users.add(service)
            else:
                own.append((variable, _default(cls, name), service))
    shared_rows = [(v, d, ", ".join(sorted(u)) if len(u) < 5 else "all") for v, (d, u) in sorted(shared.items())]
    return shared_rows + sorted(own)


def table() -> str:
    lines = ["| variable | default | read by |", "|---|---|---|"]
    lines += [f"| `{variable}` | {default} | {users} |" for variable, default, users in rows()]
    return "\n".join(lines)


def current_readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main() -> int:
    if "--write" in sys.argv:
        text = README.read_text(encoding="utf-8")
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}", encoding="utf-8")
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())

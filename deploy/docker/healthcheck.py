"""Docker HEALTHCHECK of the moncompte image: is the service running in this container ready?

One image runs any of the five processes, so the check finds out which one from the command
line of PID 1 (``python -m services.identity [serve]``), reads that service's own settings class
(so the port is the one the process listens on, whatever the environment says) and asks
``GET /health/ready`` on it. A one-shot command (``migrate``, ``list``...) is not a server: the
check then passes, since the container's exit code is what tells its outcome.

Exit status: 0 healthy, 1 unhealthy (Docker's convention).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import urllib.error
import urllib.request
from pathlib import Path

READY_PATH = "/health/ready"
_SERVE = "serve"


def service_command(cmdline: list[str]) -> tuple[str, str] | None:
    """``(module, command)`` of a ``python -m MODULE [COMMAND]`` command line, else None."""
    if "-m" not in cmdline:
        return None
    index = cmdline.index("-m")
    if index + 1 >= len(cmdline):
        return None
    module = cmdline[index + 1]
    rest = [arg for arg in cmdline[index + 2:] if not arg.startswith("-")]
    return module, (rest[0] if rest else _SERVE)


def settings_class(module: str) -> type:
    """The ProcessSettings subclass defined in ``<module>.settings``."""
    from common.settings import ProcessSettings

    settings_module = importlib.import_module(f"{module}.settings")
    found = [value for value in vars(settings_module).values()
             if isinstance(value, type) and issubclass(value, ProcessSettings)
             and value.__module__ == settings_module.__name__]
    if len(found) != 1:
        raise LookupError(f"{module}.settings defines {len(found)} settings classes, expected one")
    return found[0]


def ready_url(module: str) -> str:
    """The readiness URL of the service ``module`` as configured by this environment."""
    from common.settings import load_settings

    settings = load_settings(settings_class(module))
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{READY_PATH}"


def check(cmdline: list[str], *, timeout: float) -> tuple[bool, str]:
    """Whether the process started by ``cmdline`` is healthy, with a one-line reason."""
    parsed = service_command(cmdline)
    if parsed is None:
        return False, f"not a `python -m SERVICE` command: {' '.join(cmdline)!r}"
    module, command = parsed
    if command != _SERVE:
        return True, f"{module} {command} is a one-shot command"
    url = ready_url(module)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http to ourselves)
            return response.status == 200, f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except OSError as exc:
        return False, f"{url} unreachable: {exc}"


def read_cmdline(path: Path) -> list[str]:
    """The NUL-separated command line in ``path`` (``/proc/1/cmdline``)."""
    return [arg for arg in path.read_bytes().decode().split("\0") if arg]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmdline-file", type=Path, default=Path("/proc/1/cmdline"))
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    try:
        healthy, reason = check(read_cmdline(args.cmdline_file), timeout=args.timeout)
    except Exception as exc:  # a broken configuration is unhealthy, with its reason
        healthy, reason = False, f"{type(exc).__name__}: {exc}"
    print(("healthy: " if healthy else "unhealthy: ") + reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

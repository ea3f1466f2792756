"""Run the whole system locally: the five services, the development mail sink, demo data.

`make run` calls this after installing. Each process logs to var/log/<name>.log; Ctrl-C stops
them all (SIGTERM, so in-flight requests finish).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "log"
SERVICES = [
    ("identity", "services.identity", 8081),
    ("tenancy", "services.tenancy", 8082),
    ("documents", "services.documents", 8083),
    ("notifier", "services.notifier", 8084),
    ("gateway", "gateway", 8080),
]
MAILBOX_PORT = 8025
SMTP_SINK_PORT = 2525


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = (LOGS / f"{name}.log").open("ab")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("LOG_JSON", "true")
    env.setdefault("DOCUMENTS_STORAGE_DIR", str(ROOT / "var" / "blobs"))
    processes: list[tuple[str, subprocess.Popen]] = []
    if not env.get("SMTP_HOST"):
        env["SMTP_HOST"], env["SMTP_PORT"] = "127.0.0.1", str(SMTP_SINK_PORT)
        processes.append(("mailbox", _start("mailbox", ["-m", "services.notifier", "devsink",
                                                         "--smtp-port", str(SMTP_SINK_PORT),
                                                         "--http-port", str(MAILBOX_PORT)], env)))
    for name, module, _port in SERVICES:
        processes.append((name, _start(name, ["-m", module], env)))

    def stop(*_):
        for _name, proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in processes:
            try:
                proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + 60
    pending = {name: port for name, _m, port in SERVICES}
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if _ready(port):
                pending.pop(name)
        for name, proc in processes:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; see var/log/{name}.log", file=sys.stderr)
                stop()
        time.sleep(0.3)
    if pending:
        print(f"not ready after 60 s: {', '.join(pending)} (see var/log/)", file=sys.stderr)
        stop()
    seed = subprocess.run([sys.executable, "-m", "scripts.seed_demo"], cwd=ROOT, env=env, check=False)
    if seed.returncode != 0:
        print("demo data could not be seeded (see the output above)", file=sys.stderr)
    print("\nmoncompte is running: open http://localhost:8080/login?client=DEMO&societe=SYNDIC")
    print(f"development mailbox: http://localhost:{MAILBOX_PORT}/" if "mailbox" in dict(processes) else "")
    print("logs in var/log/; Ctrl-C stops everything")
    while True:
        for name, proc in processes:
            if proc.poll() is not None:
                print(f"{name} stopped ({proc.returncode}); stopping everything", file=sys.stderr)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

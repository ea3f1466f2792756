"""The whole system for the end-to-end tests: five real service processes, real backends.

:class:`System` creates fresh databases (identity, tenancy, documents, notifier), a unique events
exchange and a real SMTP sink, starts ``python -m services.<name>`` and ``python -m gateway`` as
subprocesses on free ports with the environment variables their settings read, waits for every
``/health/ready``, writes each process's output to ``test-artifacts/logs/<name>.log`` and stops
them with SIGTERM. Helpers onboard tenants through the gateway's public API (operator token),
load directories, issue provisional credentials, upload PDFs and read emails from the sink.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

from common.testing import ReceivedMail, SmtpSink, create_test_database, drop_test_database, free_port
from scripts.seed_demo import PublicApi, make_pdf

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
OPERATOR_TOKEN = "e2e-operator-" + uuid.uuid4().hex
INTERNAL_SECRET = "e2e-internal-" + uuid.uuid4().hex
READY_TIMEOUT = float(os.environ.get("E2E_READY_TIMEOUT", "90"))


@dataclass
class Service:
    name: str
    module: str
    prefix: str
    port: int = 0
    database_url: str | None = None
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _services() -> list[Service]:
    return [
        Service("identity", "services.identity", "IDENTITY_"),
        Service("tenancy", "services.tenancy", "TENANCY_"),
        Service("documents", "services.documents", "DOCUMENTS_"),
        Service("notifier", "services.notifier", "NOTIFIER_"),
        Service("gateway", "gateway", "GATEWAY_"),
    ]


def _readiness(url: str) -> tuple[bool, str]:
    """Whether ``/health/ready`` answers 200, and what it said (for the error message)."""
    try:
        with urllib.request.urlopen(url + "/health/ready", timeout=2) as response:  # noqa: S310
            return response.status == 200, response.read().decode(errors="replace")[:300]
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {exc.read().decode(errors='replace')[:300]}"
    except OSError as exc:
        return False, repr(exc)


try:  # loaded here, not in the child: between fork and exec the child must not import anything
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None
_PR_SET_PDEATHSIG = 1
_SIGTERM = int(signal.SIGTERM)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (Linux), so no service outlives a killed run."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, _SIGTERM)


class PortTaken(RuntimeError):
    """A process could not bind the port it was given: another process took it first."""


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Tenant:
    """A tenant onboarded for one test, with its agency API client."""

    id: str
    client_code: str
    societe_code: str
    name: str
    api: PublicApi
    support: dict
    onboarded: dict = field(default_factory=dict)

    def login_path(self) -> str:
        return "/login?" + urlencode({"client": self.client_code, "societe": self.societe_code})

    def put_directory(self, directory: dict) -> dict:
        return self.api.put_directory(directory)

    def issue_credentials(self, *refs: str, reset: bool = False) -> dict[str, dict]:
        return self.api.issue_credentials(list(refs), reset=reset)

    def upload_pdf(self, *, title: str, category: str, audience: dict, date: str = "2026-06-12") -> dict:
        metadata = {"category": category, "title": title, "date": date, "audience": audience}
        return self.api.upload_when_known(metadata, make_pdf(title), "document.pdf")


class DirectApi(PublicApi):
    """Diagnosis only (``E2E_DIRECT_API=1``): the public API calls sent straight to tenancy and documents
    with internal tokens, as the gateway would forward them, to tell a gateway gap from a service one."""

    def __init__(self, system: System, token: str) -> None:
        super().__init__(system.base_url, token)
        self.system = system

    def agency(self, api_key: str) -> DirectApi:
        return DirectApi(self.system, api_key)

    def call(self, method, path, payload=None, *, body=None, content_type=None, accept="application/json"):
        import json as _json
        import urllib.error

        from common.internal_auth import PUBLIC_API, issue_token

        target = self.system.by_name("documents" if path.startswith("/api/v1/documents") else "tenancy")
        claims = {"act": "operator", "via": PUBLIC_API}
        if self.token != OPERATOR_TOKEN:
            verified = self._internal("tenancy", "POST", "/internal/api-keys/verify", {"api_key": self.token})
            claims = {"act": "agency", "tid": verified["tenant_id"], "via": PUBLIC_API}
        token = issue_token(INTERNAL_SECRET, issuer="gateway", audience=target.name, **claims)
        headers = {"Authorization": f"Internal {token}", "Accept": accept}
        if payload is not None:
            body, content_type = _json.dumps(payload).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(target.url + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                return _json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            from scripts.seed_demo import ApiError

            raw = exc.read()
            raise ApiError(method, path, exc.code, _json.loads(raw) if raw else None) from None

    def _internal(self, service: str, method: str, path: str, payload: dict) -> dict:
        import json as _json

        from common.internal_auth import issue_token

        token = issue_token(INTERNAL_SECRET, issuer="gateway", audience=service)
        request = urllib.request.Request(self.system.by_name(service).url + path, method=method,  # noqa: S310
                                         data=_json.dumps(payload).encode(),
                                         headers={"Authorization": f"Internal {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return _json.loads(response.read())


class System:
    """The running system; build with :meth:`start`, always :meth:`stop`."""

    def __init__(self, *, database_url: str, amqp_url: str, workdir: Path, logs_dir: Path | None = None,
                 replicas: dict[str, int] | None = None, database_ports: dict[str, int] | None = None,
                 extra_env: dict[str, str] | None = None):
        """``replicas``: processes per service (e.g. ``{"identity": 2}``; the extra ones are named
        ``identity-2``..., share the database and are all in the gateway's upstream list).
        ``database_ports``: the port a service's processes reach PostgreSQL at (e.g. a ``TcpProxy``
        in front of the real server), instead of the real one. ``extra_env``: applied last."""
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.workdir = workdir
        # One directory per run: concurrent runs in one working tree must not write into each other's logs.
        self.logs_dir = logs_dir or ARTIFACTS / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.services = _services()
        for name, count in (replicas or {}).items():
            primary = self.by_name(name)
            self.services += [Service(f"{name}-{n}", primary.module, primary.prefix) for n in range(2, count + 1)]
        self.database_ports = dict(database_ports or {})
        self.extra_env = dict(extra_env or {})
        # The gateway serves /metrics only on a port of its own (never on its public one).
        self.gateway_metrics_port = free_port()
        self._spawner: ThreadPoolExecutor | None = None
        self.exchange = f"e2e.events.{uuid.uuid4().hex[:12]}"
        # Advertises PIPELINING as production relays (Postfix) do, so the suites run that path.
        self.sink = SmtpSink(pipelining=True)
        self.operator = PublicApi("", OPERATOR_TOKEN)

    # ---- lifetime ----
    @property
    def gateway(self) -> Service:
        return self.by_name("gateway")

    @property
    def base_url(self) -> str:
        return self.gateway.url

    def by_name(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def replicas_of(self, name: str) -> list[Service]:
        """Every process of service ``name`` (the primary first, then ``name-2``...)."""
        return [s for s in self.services if s.name == name or s.name.startswith(name + "-")]

    def _process_database_url(self, name: str, dsn: str) -> str:
        port = self.database_ports.get(name)
        return re.sub(r"@[^/@]+/", f"@127.0.0.1:{port}/", dsn, count=1) if port else dsn

    def process_environment(self, service: Service) -> dict[str, str]:
        """The environment of one process: the shared one with this process's own port."""
        env = self.environment()
        env[service.prefix + "PORT"] = str(service.port)
        return env

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "TENANCY_", "DOCUMENTS_",
                                                                          "NOTIFIER_", "GATEWAY_"))}
        env.update({
            "ENVIRONMENT": "test",
            "AMQP_URL": self.amqp_url,
            "EVENTS_EXCHANGE": self.exchange,
            "INTERNAL_AUTH_SECRET": INTERNAL_SECRET,
            "PUBLIC_BASE_URL": self.base_url,
            "OPERATOR_API_TOKEN": OPERATOR_TOKEN,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.sink.port),
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            # Graceful stop has its own tests; here it only delays the end of the run.
            "SHUTDOWN_TIMEOUT_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
            # Cheap password hashing: the journeys hash a few dozen passwords.
            "IDENTITY_ARGON2_MEMORY_KIB": "1024",
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_PARALLELISM": "1",
            # Every browser comes from 127.0.0.1: per-IP limits must not trip across journeys.
            "IDENTITY_IP_FAILURE_LIMIT": "100000",
            "IDENTITY_FORGOT_PER_IP_PER_HOUR": "100000",
            # No cooldown by default (the fuzz and resilience runs resend at once); the e2e package sets
            # a short one to see the page wait and come back (tests/e2e/conftest.py).
            "IDENTITY_RESEND_COOLDOWN_SECONDS": "0",
            "NOTIFIER_DIGEST_WINDOW_SECONDS": "0",
            "GATEWAY_INSECURE_COOKIES": "true",
            "GATEWAY_METRICS_PORT": str(self.gateway_metrics_port),
            "DOCUMENTS_STORAGE_DIR": str(self.workdir / "blobs"),
        })
        for service in reversed(self.services):  # the primary's port wins; process_environment sets each
            env[service.prefix + "PORT"] = str(service.port)
            env[service.prefix + "HOST"] = "127.0.0.1"
        for name in ("identity", "tenancy", "documents", "notifier"):
            primary = self.by_name(name)
            if primary.database_url:
                env[primary.prefix + "DATABASE_URL"] = self._process_database_url(name, primary.database_url)
            if name != "notifier":  # the gateway never calls the notifier
                env[f"GATEWAY_{name.upper()}_URLS"] = ",".join(s.url for s in self.replicas_of(name))
        for name in ("identity", "tenancy", "documents", "notifier"):
            # Services calling each other (tenancy -> identity, notifier -> identity...).
            for caller in ("IDENTITY_", "TENANCY_", "DOCUMENTS_", "NOTIFIER_"):
                env[f"{caller}{name.upper()}_URL"] = self.by_name(name).url
        env.update(self.extra_env)
        return env

    def start(self) -> System:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "blobs").mkdir(parents=True, exist_ok=True)
        self.sink.start()
        for service in self.services:
            service.port = free_port()
            if service.name in ("identity", "tenancy", "documents", "notifier"):
                prefix = f"e2e_{service.name}"
                service.database_url = asyncio.run(create_test_database(self.database_url, prefix=prefix))
        self._spawn_until_ready()
        self.operator = (DirectApi(self, OPERATOR_TOKEN) if os.environ.get("E2E_DIRECT_API") == "1"
                         else PublicApi(self.base_url, OPERATOR_TOKEN))
        return self

    def _spawn_until_ready(self) -> None:
        # free_port never gives a port twice in this process, but another process of this machine (a
        # second test run, a benchmark) may bind one between its check and the service's own bind.
        # Then every process starts again on new ports, once: each knows the others' ports.
        for attempt in (1, 2):
            for service in self.services:
                self._spawn(service)
            try:
                self._wait_ready()
                return
            except PortTaken:
                if attempt == 2:
                    raise
            self._stop_processes()
            for service in self.services:
                service.port = free_port()
            self.gateway_metrics_port = free_port()

    def _spawn(self, service: Service) -> None:
        # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: spawn every process from
        # one thread that lives as long as the system, whichever thread (e.g. asyncio.to_thread) asks.
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="system-spawn")
        self._spawner.submit(self._spawn_now, service).result()

    def _spawn_now(self, service: Service) -> None:
        service.log_path = self.logs_dir / f"{service.name}.log"
        log = service.log_path.open("ab")
        service.process = subprocess.Popen([sys.executable, "-m", service.module], cwd=ROOT,
                                           env=self.process_environment(service),
                                           stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL one process (``identity``, ``identity-2``...) and reap it: an abrupt crash."""
        service = self.by_name(name)
        if service.process and service.process.poll() is None:
            service.process.kill()
            service.process.wait()

    def restart(self, name: str, *, wait_ready: bool = True) -> None:
        """Start a stopped (killed) process again on the same port and wait until it is ready."""
        service = self.by_name(name)
        if service.process and service.process.poll() is None:
            raise RuntimeError(f"{name} is still running")
        self._spawn(service)
        if wait_ready:
            deadline = time.monotonic() + READY_TIMEOUT
            while not _readiness(service.url)[0]:
                if service.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not restart:\n" + log_tail(service.log_path))
                time.sleep(0.2)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = list(self.services)
        said: dict[str, str] = {}
        while pending:
            for service in list(pending):
                if service.process.poll() is not None:
                    tail = log_tail(service.log_path)
                    failure = PortTaken if "address already in use" in tail else RuntimeError
                    raise failure(f"{service.name} exited with {service.process.returncode} at start:\n{tail}")
                ready, said[service.name] = _readiness(service.url)
                if ready:
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{s.name} ({said.get(s.name)})" for s in pending)
                tails = "\n".join(f"--- {s.name}\n{log_tail(s.log_path)}" for s in pending)
                raise RuntimeError(f"not ready after {READY_TIMEOUT}s: {names}\n{tails}")
            if pending:
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop_processes()
        if self._spawner is not None:
            self._spawner.shutdown(wait=True)
            self._spawner = None
        self.sink.stop()
        self._delete_broker_topology()
        for service in self.services:
            if service.database_url and not service.name.count("-"):
                try:
                    asyncio.run(drop_test_database(service.database_url))
                except Exception as exc:  # a leftover database must not hide the test result
                    print(f"could not drop {service.database_url}: {exc}", file=sys.stderr)

    def _stop_processes(self) -> None:
        running = [s for s in self.services if s.process and s.process.poll() is None]
        for service in running:
            service.process.send_signal(signal.SIGTERM)
        for service in running:
            try:
                service.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()

    def _delete_broker_topology(self) -> None:
        """Delete this run's exchange and the consumers' quorum queues (named ``<exchange>.<consumer>...``).

        Quorum queues are heavy for a shared broker: a run must not leave its queues behind. The
        main queue names come from the services' ``consumer.started`` log lines.
        """
        mains = set()
        for service in self.services:
            if service.log_path and service.log_path.exists():
                mains.update(re.findall(r'"queue": "(' + re.escape(self.exchange) + r'\.[^"]+)"',
                                        service.log_path.read_text(errors="replace")))
        names = {re.sub(r"\.(parked|retry\.\d+)$", "", m) for m in mains}

        async def delete() -> None:
            import aio_pika

            connection = await aio_pika.connect(self.amqp_url, timeout=5)
            async with connection:
                channel = await connection.channel()
                for main in sorted(names):
                    for queue in (main, f"{main}.parked", *(f"{main}.retry.{n}" for n in range(1, 9))):
                        await channel.queue_delete(queue)
                await channel.exchange_delete(self.exchange)

        try:
            asyncio.run(asyncio.wait_for(delete(), 20))
        except Exception as exc:  # cleanup must not hide the test result
            print(f"could not delete the broker topology of {self.exchange}: {exc!r}", file=sys.stderr)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {s.name} ({s.log_path})\n{log_tail(s.log_path, lines)}"
                         for s in self.services if s.log_path)

    def dead_services(self) -> list[str]:
        return [s.name for s in self.services if s.process and s.process.poll() is not None]

    # ---- scenario helpers ----
    def url(self, path: str) -> str:
        return self.base_url + path

    def new_tenant(self, *, kind: str = "syndic", name: str | None = None, support: dict | None = None) -> Tenant:
        """Onboard a tenant with unique codes through ``POST /api/v1/tenants`` (operator token)."""
        suffix = uuid.uuid4().hex[:8].upper()
        support = support or {"email": f"aide-{suffix.lower()}@agence.example.org", "phone": "01 23 45 67 89",
                              "hours": "9h-12h"}
        name = name or f"Agence {suffix}"
        answer = self.operator.onboard(client_code=f"E2E{suffix}", societe_code="01", name=name, kind=kind,
                                       support=support, branding={"primary_color": "#1d4ed8"})
        return Tenant(answer["id"], answer["client_code"], answer["societe_code"], name,
                      self.operator.agency(answer["api_key"]), support, answer)

    def wait_for_email(self, address: str, *, count: int = 1, subject: str | None = None,
                       timeout: float = 30.0) -> ReceivedMail:
        """The ``count``-th email to ``address`` (whose subject contains ``subject``), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            mails = [m for m in self.sink.to(address) if subject is None or subject.lower() in m.subject.lower()]
            if len(mails) >= count:
                return mails[count - 1]
            if time.monotonic() > deadline:
                seen = [(m.rcpt_tos, m.subject) for m in self.sink.messages]
                raise AssertionError(f"no email #{count} to {address} (subject ~ {subject!r}) after {timeout}s; "
                                     f"sink holds {seen}; dead services: {self.dead_services()}")
            time.sleep(0.1)

    def emails_to(self, address: str) -> list[ReceivedMail]:
        return self.sink.to(address)


def link_in(mail: ReceivedMail, path: str) -> str:
    """The first link of ``mail`` (HTML hrefs, then plain text) whose URL contains ``path``."""
    candidates = [unescape(href) for href in re.findall(r'href="([^"]+)"', mail.html())]
    candidates += re.findall(r"https?://[^\s<>\"']+", mail.text())
    for url in candidates:
        if path in url:
            return url
    raise AssertionError(f"no link containing {path!r} in email {mail.subject!r}: {candidates}")


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"

"""Calls from the gateway to the services: replicas, round robin, timeouts, failover.

Each service is a list of replica base URLs. A call starts at the next replica (round robin)
and moves to the following one when the connection could not be made (nothing was sent, so any
method may be retried) or broke before an answer for a request that is safe to repeat (GET,
HEAD, PUT, DELETE, or a POST flagged ``safe`` such as the session introspection). When every
replica failed, :class:`ServiceUnavailable` is raised: the pages render it as a French 503.
One shared :class:`aiohttp.ClientSession` with keep-alive serves every call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from common.internal_auth import HEADER, SCHEME, TokenSigner
from common.logging import get_logger
from gateway.passthrough import Answer, ConnectFailed, Replica, UpstreamBroken, request_head
from gateway.paths import unsafe_path_reason

__all__ = ["IDEMPOTENT_METHODS", "Reply", "ServiceUnavailable", "Upstream", "upstream_url"]

log = get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ISSUER = "gateway"


class ServiceUnavailable(Exception):
    """No replica of a service answered (connection refused, broken, timed out, or 5xx)."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass(slots=True)
class Reply:
    """A JSON answer of a service: status and decoded body (``{}`` when empty or not JSON)."""

    status: int
    body: Any
    headers: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


class Upstream:
    """One service: its replicas, its audience, and a signer for the internal token."""

    def __init__(self, name: str, urls: list[str], *, secret: str, session_ref, connect_timeout: float = 2.0,
                 read_timeout: float = 15.0) -> None:
        self.name = name
        self.urls = list(urls)
        self._signer = TokenSigner(secret, issuer=ISSUER)
        self._session_ref = session_ref  # a callable returning the shared ClientSession
        self._counter = itertools.count()
        # Kept connections for forwarded GETs (gateway.passthrough), for the plain-HTTP replicas.
        self._replicas = {url: _replica(url, connect_timeout=connect_timeout, read_timeout=read_timeout)
                          for url in self.urls}
        self._all_plain_http = all(replica is not None for replica in self._replicas.values())

    def token(self, *, request_id: str | None, claims: dict) -> str:
        """A signed internal token for one call to this service."""
        return self._signer.sign(audience=self.name, request_id=request_id, claims=claims)

    def _headers(self, headers: dict | None, *, claims: dict | None, request_id: str | None) -> dict:
        """The caller's headers, the internal token (unless ``claims`` is None) and the request id."""
        send_headers = dict(headers or {})
        if claims is not None:
            send_headers[HEADER] = f"{SCHEME} {self.token(request_id=request_id, claims=claims)}"
        if request_id:
            send_headers["X-Request-ID"] = request_id
        return send_headers

    def _order(self) -> list[str]:
        start = next(self._counter) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    async def open(self, method: str, path: str, *, claims: dict | None, request_id: str | None = None,
                   safe: bool = False, headers: dict | None = None, **kwargs) -> aiohttp.ClientResponse:
        """Send one request and return the response, unread (the caller releases it).

        ``claims`` None means no internal token (the public file links carry their own authority).
        ``data`` that is a stream cannot be replayed, so such calls are only retried on a refused
        connection (nothing was read from the stream).
        """
        send_headers = self._headers(headers, claims=claims, request_id=request_id)
        repeatable = safe or method in IDEMPOTENT_METHODS
        session: aiohttp.ClientSession = self._session_ref()
        _check_path(path)
        last_error: Exception | None = None
        for base in self._order():
            try:
                response = await session.request(method, upstream_url(base, path), headers=send_headers,
                                                 allow_redirects=False, **kwargs)
            except aiohttp.ClientConnectorError as exc:
                last_error = exc  # never connected: nothing was sent, any request may go elsewhere
                log.warning("upstream.connect_failed", upstream=self.name, replica=base)
                continue
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                last_error = exc
                log.warning("upstream.connection_broken", upstream=self.name, replica=base)
                if repeatable and not _is_stream(kwargs.get("data")):
                    continue
                break
            except TimeoutError as exc:
                last_error = exc
                log.warning("upstream.timeout", upstream=self.name, replica=base)
                break
            if response.status in (502, 503, 504) and repeatable and not _is_stream(kwargs.get("data")):
                response.release()
                last_error = RuntimeError(f"status {response.status}")
                continue
            return response
        log.error("upstream.unavailable", upstream=self.name, error=type(last_error).__name__)
        raise ServiceUnavailable(self.name)

    async def get(self, path: str, *, claims: dict | None, request_id: str | None = None,
                  headers: dict | None = None) -> Answer | aiohttp.ClientResponse:
        """A GET forwarded over the lean kept connections (gateway.passthrough); same failover as :meth:`open`.

        The answer is unread (the caller releases it). A replica reached over TLS goes through aiohttp.
        """
        if not self._all_plain_http:
            return await self.open("GET", path, claims=claims, request_id=request_id, headers=headers)
        _check_path(path)
        send_headers = self._headers(headers, claims=claims, request_id=request_id)
        last_error: Exception | None = None
        for base in self._order():
            replica = self._replicas[base]
            try:
                answer = await replica.send(request_head("GET", path, replica.host_header, send_headers))
            except ConnectFailed as exc:
                last_error = exc
                log.warning("upstream.connect_failed", upstream=self.name, replica=base)
                continue
            except UpstreamBroken as exc:
                last_error = exc  # a GET may be sent again elsewhere
                log.warning("upstream.connection_broken", upstream=self.name, replica=base)
                continue
            except TimeoutError as exc:
                last_error = exc
                log.warning("upstream.timeout", upstream=self.name, replica=base)
                break
            if answer.status in (502, 503, 504):
                answer.release()
                last_error = RuntimeError(f"status {answer.status}")
                continue
            return answer
        log.error("upstream.unavailable", upstream=self.name, error=type(last_error).__name__)
        raise ServiceUnavailable(self.name)

    def close(self) -> None:
        """Close the kept connections of :meth:`get` (the shared aiohttp session is closed by the app)."""
        for replica in self._replicas.values():
            if replica is not None:
                replica.close()

    async def call(self, method: str, path: str, *, claims: dict, request_id: str | None = None,
                   json: Any = None, params: dict | None = None, safe: bool = False) -> Reply:
        """A JSON call; 5xx answers become :class:`ServiceUnavailable`."""
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = {k: str(v) for k, v in params.items() if v not in (None, "")}
        try:
            response = await self.open(method, path, claims=claims, request_id=request_id, safe=safe, **kwargs)
            async with response:
                if response.status >= 500:
                    log.error("upstream.server_error", upstream=self.name, status=response.status, path=path)
                    raise ServiceUnavailable(self.name)
                try:
                    body = await response.json(content_type=None) if response.status != 204 else {}
                except ValueError:
                    body = {}
                return Reply(response.status, body if body is not None else {}, response.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.error("upstream.read_failed", upstream=self.name, error=type(exc).__name__)
            raise ServiceUnavailable(self.name) from exc


def _replica(base: str, *, connect_timeout: float, read_timeout: float) -> Replica | None:
    url = URL(base)
    if url.scheme != "http" or not url.host or url.path not in ("", "/"):
        return None  # TLS or a base path: aiohttp's client keeps those
    return Replica(url.host, url.port or 80, connect_timeout=connect_timeout, read_timeout=read_timeout)


def _check_path(path: str) -> None:
    # Every caller builds its path from checked parts (ids matched by pattern, the API's raw path
    # checked at the edge): an unsafe one here is a bug, refused rather than sent.
    if unsafe_path_reason(path.partition("?")[0]) is not None:
        raise ValueError("refusing to call an upstream with an unsafe path")


def upstream_url(base: str, path: str) -> URL:
    """``base`` + ``path`` (already percent-encoded), sent as written: yarl would otherwise resolve
    dot segments, and a path that passed the caller's checks could name another route."""
    return URL(base + path, encoded=True)


def _is_stream(data: Any) -> bool:
    return data is not None and not isinstance(data, bytes | str | dict)

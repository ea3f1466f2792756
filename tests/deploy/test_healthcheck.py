"""The image's HEALTHCHECK script against real HTTP servers, with the settings of each service."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from aiohttp import web

from common.testing import free_port
from tests.deploy.tools import DEPLOY

_spec = importlib.util.spec_from_file_location("moncompte_healthcheck", DEPLOY / "docker" / "healthcheck.py")
healthcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)


@pytest.mark.parametrize(("cmdline", "expected"), [
    (["python", "-m", "gateway"], ("gateway", "serve")),
    (["/opt/venv/bin/python", "-m", "services.identity", "serve"], ("services.identity", "serve")),
    (["python", "-m", "services.tenancy", "migrate"], ("services.tenancy", "migrate")),
    (["python", "-u", "-m", "services.notifier", "--verbose", "serve"], ("services.notifier", "serve")),
    (["python", "app.py"], None),
    (["python", "-m"], None),
])
def test_service_command_reads_the_module_and_command(cmdline, expected):
    assert healthcheck.service_command(cmdline) == expected


async def _server(aiohttp_server, status: int, port: int):
    async def ready(request):
        return web.json_response({"status": "ok" if status == 200 else "unavailable"}, status=status)

    app = web.Application()
    app.router.add_get("/health/ready", ready)
    return await aiohttp_server(app, port=port)


@pytest.mark.parametrize(("module", "prefix"), [("gateway", "GATEWAY"), ("services.documents", "DOCUMENTS")])
async def test_a_ready_service_is_healthy_on_the_port_its_settings_name(aiohttp_server, monkeypatch, module, prefix):
    port = free_port()
    await _server(aiohttp_server, 200, port)
    monkeypatch.setenv(f"{prefix}_HOST", "0.0.0.0")  # noqa: S104 (what the image sets): the check asks 127.0.0.1
    monkeypatch.setenv(f"{prefix}_PORT", str(port))
    healthy, reason = await asyncio.to_thread(healthcheck.check, ["python", "-m", module], timeout=2)
    assert healthy, reason
    assert f"127.0.0.1:{port}/health/ready answered 200" in reason


async def test_a_service_answering_503_is_unhealthy(aiohttp_server, monkeypatch):
    port = free_port()
    await _server(aiohttp_server, 503, port)
    monkeypatch.setenv("IDENTITY_PORT", str(port))
    healthy, reason = await asyncio.to_thread(healthcheck.check, ["python", "-m", "services.identity"], timeout=2)
    assert not healthy
    assert "answered 503" in reason


def test_nothing_listening_is_unhealthy(monkeypatch):
    monkeypatch.setenv("TENANCY_PORT", str(free_port()))
    healthy, reason = healthcheck.check(["python", "-m", "services.tenancy"], timeout=2)
    assert not healthy
    assert "unreachable" in reason


def test_a_one_shot_command_is_healthy_without_a_server():
    healthy, reason = healthcheck.check(["python", "-m", "services.identity", "migrate"], timeout=1)
    assert healthy
    assert "one-shot" in reason


def test_main_reads_pid1s_command_line_and_returns_dockers_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOTIFIER_PORT", str(free_port()))
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0-m\0services.notifier\0")
    assert healthcheck.main(["--cmdline-file", str(cmdline), "--timeout", "1"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: http://127.0.0.1:")
    cmdline.write_bytes(b"python\0-m\0services.notifier\0migrate\0")
    assert healthcheck.main(["--cmdline-file", str(cmdline)]) == 0


def test_a_broken_configuration_is_unhealthy_with_its_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_PORT", "not-a-port")
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0-m\0gateway\0")
    assert healthcheck.main(["--cmdline-file", str(cmdline)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: SettingsError") and "port" in out

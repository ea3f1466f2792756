"""The gateway faces the internet: its metrics are served on a separate port only."""

import aiohttp

from common.testing import free_port
from tests.integration.gateway.conftest import gateway_settings


async def test_metrics_only_on_the_metrics_port(aiohttp_client):
    from gateway.app import create_app

    port = free_port()
    urls = {name: "http://127.0.0.1:9" for name in ("identity", "tenancy", "documents")}
    client = await aiohttp_client(create_app(gateway_settings(urls, metrics_port=port)))
    await client.get("/health/live")
    public = await client.get("/metrics")
    assert public.status == 404
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'route="/health/live"' in text  # the same registry as the public listener

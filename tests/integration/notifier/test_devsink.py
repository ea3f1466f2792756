"""The development mailbox: real SMTP in, web pages and JSON out."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from email.message import EmailMessage

import aiohttp
import pytest

from common.testing import free_port, wait_until
from services.notifier.devsink import Mailbox, create_mailbox_app, start_smtp
from services.notifier.smtp import SmtpSender


@pytest.fixture
async def devsink(aiohttp_client):
    mailbox = Mailbox(capacity=3)
    port = free_port()
    server = await start_smtp(mailbox, host="127.0.0.1", port=port)
    client = await aiohttp_client(create_mailbox_app(mailbox))
    sender = SmtpSender(host="127.0.0.1", port=port, username="anyone", password="anything")
    yield client, sender
    await sender.close()
    server.close()
    await server.wait_closed()


def _mail(to: str, subject: str, html: str = "<p>Bonjour</p>", text: str = "Bonjour") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "webmaster@moncompte.immo", to, subject
    message["Message-ID"] = "<abc@moncompte.immo>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


async def test_api_lists_messages_newest_first_with_recipient_subject_text_and_html(devsink):
    client, sender = devsink
    await sender.send(_mail("a@example.org", "Premier"), sender="webmaster@moncompte.immo", recipient="a@example.org")
    await sender.send(_mail("b@example.org", "Deuxième", text="Lien : http://localhost:8080/x?a=1&b=2\nFin"),
                      sender="webmaster@moncompte.immo", recipient="b@example.org")

    body = await (await client.get("/api/messages")).json()
    assert [m["subject"] for m in body["messages"]] == ["Deuxième", "Premier"]
    newest = body["messages"][0]
    assert newest["recipient"] == "b@example.org"
    assert newest["text"] == "Lien : http://localhost:8080/x?a=1&b=2\nFin\n"
    assert newest["html"] == "<p>Bonjour</p>\n"
    only_a = await (await client.get("/api/messages", params={"to": "A@example.org"})).json()
    assert [m["subject"] for m in only_a["messages"]] == ["Premier"]
    one = await (await client.get(f"/api/messages/{newest['id']}")).json()
    assert one["message_id"] == "<abc@moncompte.immo>"


async def test_pages_escape_the_message_and_render_its_html_in_a_sandbox(devsink):
    client, sender = devsink
    hostile = "<script>alert(1)</script>"
    await sender.send(_mail("c@example.org", f"Objet {hostile}", html=f"<p>{hostile}<a href='http://x.test'>x</a></p>",
                            text="Cliquez http://localhost:8080/verify?token=abc"),
                      sender="webmaster@moncompte.immo", recipient="c@example.org")
    [listed] = (await (await client.get("/api/messages")).json())["messages"]

    index = await (await client.get("/")).text()
    assert "Objet &lt;script&gt;" in index and hostile not in index
    page = await client.get(f"/messages/{listed['id']}")
    text = await page.text()
    assert hostile not in text
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in text
    assert '<a href="http://localhost:8080/verify?token=abc"' in text  # the text part's link is clickable
    assert "script-src" not in page.headers["Content-Security-Policy"]
    frame = await client.get(f"/messages/{listed['id']}/html")
    policy = frame.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "allow-scripts" not in policy
    assert '<base target="_blank">' in await frame.text()


async def test_unknown_message_is_404_and_the_mailbox_keeps_only_the_latest(devsink):
    client, sender = devsink
    assert (await client.get("/messages/999")).status == 404
    assert (await client.get("/messages/abc/html")).status == 404
    for n in range(5):
        await sender.send(_mail("d@example.org", f"n{n}"), sender="w@moncompte.immo", recipient="d@example.org")
    body = await (await client.get("/api/messages")).json()
    assert [m["subject"] for m in body["messages"]] == ["n4", "n3", "n2"]
    assert (await client.delete("/api/messages")).status == 204
    assert (await (await client.get("/api/messages")).json())["messages"] == []


async def test_the_devsink_command_serves_smtp_and_the_mailbox():
    smtp_port, http_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.notifier", "devsink", "--smtp-port", str(smtp_port),
        "--http-port", str(http_port), env={**os.environ, "LOG_JSON": "true"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:

            async def answers():
                try:
                    async with session.get(f"http://127.0.0.1:{http_port}/api/messages") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(answers, timeout=20, message="devsink up")
            sender = SmtpSender(host="127.0.0.1", port=smtp_port)
            await sender.send(_mail("e@example.org", "Par la commande"), sender="w@moncompte.immo",
                              recipient="e@example.org")
            await sender.close()
            async with session.get(f"http://127.0.0.1:{http_port}/api/messages") as response:
                assert [m["subject"] for m in (await response.json())["messages"]] == ["Par la commande"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0

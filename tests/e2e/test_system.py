"""The harness itself: every service of the system answers ready, through real processes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from scripts.seed_demo import make_pdf


def test_every_service_is_ready_and_exposes_metrics(system):
    for service in system.services:
        with urllib.request.urlopen(service.url + "/health/ready", timeout=5) as response:  # noqa: S310
            assert response.status == 200, service.name
            assert json.loads(response.read())["status"] == "ok"
        metrics_url = service.url + "/metrics"
        if service.name == "gateway":  # the public port never serves it
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(metrics_url, timeout=5)  # noqa: S310
            assert refused.value.code == 404
            metrics_url = f"http://127.0.0.1:{system.gateway_metrics_port}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=5) as response:  # noqa: S310
            assert b"http_requests" in response.read()


def test_generated_pdf_is_well_formed():
    pdf = make_pdf("Procès-verbal de l'AG (2026)", ("Résidence Les Tilleuls",))
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    # every xref offset points at its object header
    entries = pdf[startxref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert "Procès-verbal".encode("cp1252") in pdf and b"\\(2026\\)" in pdf


def test_accessibility_check_reports_serious_violations_and_passes_clean_pages(browser):
    from tests.e2e.browser import Journey

    context = browser.new_context(bypass_csp=True)
    try:
        journey = Journey(context.new_page(), system=None)
        journey.page.set_content('<html lang="fr"><head><title>t</title></head><body><main><h1>Titre</h1>'
                                 '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text">'
                                 "</main></body></html>")
        journey.axe("broken")
        assert any("image-alt" in v for v in journey.violations), journey.violations
        assert any("label" in v for v in journey.violations), journey.violations

        clean = Journey(context.new_page(), system=None)
        clean.page.set_content('<html lang="fr"><head><title>t</title></head><body><main><h1>Titre</h1>'
                               '<label for="a">Nom</label><input id="a" type="text"></main></body></html>')
        clean.axe("clean")
        assert clean.violations == []
    finally:
        context.close()

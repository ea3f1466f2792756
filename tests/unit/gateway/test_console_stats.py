"""The console's statistics page: its figures, the SVG chart's geometry and its markup (no I/O)."""

from __future__ import annotations

import re

from gateway.app import _jinja
from gateway.pages_console_stats import HEIGHT, TOP, build_chart, summarize

COUNTS = {"accounts": 10, "without_credentials": 2, "credentials_issued": 3, "pending_verification": 1,
          "activated": 3, "expired": 1}


def _series(*activated: int, accounts: int = 10, period: str = "month") -> dict:
    points, cumulative = [], 0
    for i, count in enumerate(activated):
        cumulative += count
        start = f"2026-{i + 1:02d}-01" if period == "month" else f"2026-01-{i + 5:02d}"
        points.append({"start": start, "activated": count, "cumulative": cumulative,
                       "cumulative_share": round(cumulative / accounts, 4) if accounts else 0.0})
    return {"period": period, "activated_before": 0, "points": points}


def test_summary_groups_the_states_the_way_the_staff_read_them():
    assert summarize(COUNTS) == {"accounts": 10, "activated": 3, "pending": 4, "without_access": 3,
                                 "share": "30\u202f%"}
    assert summarize({"accounts": 0})["share"] == "0\u202f%"


def test_chart_bars_scale_to_the_highest_month_and_the_line_to_100_percent():
    chart = build_chart(_series(0, 2, 4, 1, 0, 0, 0, 0, 0, 0, 0, 3))
    assert len(chart.bars) == 12 and [b.label for b in chart.bars][:3] == ["janv.", "févr.", "mars"]
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.value == 4 and tallest.y == TOP  # 4 is the top of the scale (0, 1, 2, 3, 4)
    assert [label for _, label in chart.left_ticks] == ["0", "1", "2", "3", "4"]
    assert chart.dots[-1][1] == round(HEIGHT - 44 - (HEIGHT - 44 - TOP) * 1.0, 1)  # 10 of 10: the top
    assert chart.rows[-1] == {"period": "décembre 2026", "activated": 3, "cumulative": 10, "share": "100\u202f%"}
    assert "10 au total des 12 derniers mois" in chart.description and "de 0\u202f% à 100\u202f%" in chart.description


def test_an_empty_series_still_draws_axes():
    chart = build_chart(_series(*[0] * 12, accounts=0))
    assert {b.height for b in chart.bars} == {0} and chart.left_ticks[-1][1] == "1"
    assert chart.title == "Activations par mois des 12 derniers mois"


def test_weeks_are_labelled_one_in_four_ending_with_the_current_week():
    chart = build_chart(_series(*[1] * 8, period="week"))
    assert [b.label for b in chart.bars] == ["", "", "", "08/01", "", "", "", "12/01"]
    assert chart.rows[0]["period"] == "semaine du 05/01/2026"


def test_the_page_has_no_inline_style_and_a_named_chart_with_its_table():
    html = _jinja().get_template("console/statistics.html").render(
        tenant={"client_code": "C", "societe_code": "01", "name": "Agence"}, url=lambda p, **q: p, csrf_token="t",
        brand_color="#1d4ed8",
        staff={"display_name": "Alice", "role": "admin"}, active="statistiques", periode="mois",
        summary=summarize(COUNTS), counts=COUNTS, chart=build_chart(_series(1, 2)),
        residences=[{"name": "Les Tilleuls", "ref": "R1", **summarize(COUNTS)}])
    assert not re.search(r"\sstyle=", html) and not re.search(r"<script(?![^>]*\ssrc=)", html)  # the CSP
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in html
    assert '<title id="chart-title">Activations par mois des 12 derniers mois</title>' in html
    assert "<caption class=\"sr-only\">Activation des comptes par résidence</caption>" in html
    assert 'aria-current="page">Statistiques</a>' in html

"""The agency console's activation statistics (``/agence/statistiques``, issue 13).

Everything comes from one public-API call, ``GET /api/v1/activation-stats?by=residence&series=...``, made
as the agency for the logged-in staff member (``gateway/console.py``). The chart is drawn here as SVG
geometry (no script, no inline style: the CSP allows neither), with its data as a table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aiohttp import web

from gateway.console import STAFF, agency_call, require_staff
from gateway.context import render, require_tenant

__all__ = ["Chart", "build_chart", "routes", "summarize"]

routes = web.RouteTableDef()

# ?periode= in the page's French, the API's series in English.
PERIODS = {"mois": "month", "semaine": "week"}
UNAVAILABLE = "Les statistiques sont momentanément indisponibles. Réessayez dans quelques instants."
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")
_MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")

# The chart's drawing area (SVG user units; the SVG scales to the page's width).
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 16, 44


def percent(part: int, whole: int) -> str:
    """``2, 3`` -> ``67 %`` (a narrow no-break space, as French typography wants)."""
    return f"{round(100 * part / whole) if whole else 0}\u202f%"


def summarize(counts: dict) -> dict:
    """The four figures the staff read: accounts, activated, pending (letter not used yet, or the email to
    verify) and without access (never a letter, or an expired one), with the share activated."""
    accounts, activated = counts.get("accounts", 0), counts.get("activated", 0)
    return {"accounts": accounts, "activated": activated,
            "pending": counts.get("credentials_issued", 0) + counts.get("pending_verification", 0),
            "without_access": counts.get("without_credentials", 0) + counts.get("expired", 0),
            "share": percent(activated, accounts)}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str       # under the bar (may be empty: weeks are labelled one in four)
    label_x: float
    value: int


@dataclass(frozen=True)
class Chart:
    """What the template draws: bars (activations per period), a line (cumulative share), the axes."""

    title: str
    description: str
    bars: list[Bar]
    line: str                                  # the polyline's points
    dots: list[tuple[float, float]]
    left_ticks: list[tuple[float, str]]        # (y, label): activations
    right_ticks: list[tuple[float, str]]       # (y, label): cumulative share
    rows: list[dict]                           # the data table
    period_label: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _nice_step(top: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if top / step <= 5:
            return step
    return max(1, top // 5)


def _period_name(start: date, period: str, *, short: bool) -> str:
    if period == "week":
        return f"{start:%d/%m}" if short else f"semaine du {start:%d/%m/%Y}"
    return _MONTHS_SHORT[start.month - 1] if short else f"{_MONTHS[start.month - 1]} {start.year}"


def build_chart(series: dict) -> Chart:
    """The SVG geometry of ``series`` (the API's ``series``: period and points, oldest first)."""
    period = series.get("period", "month")
    points = series.get("points") or []
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    peak = max([p["activated"] for p in points] + [1])
    step = _nice_step(peak)
    scale_top = -(-peak // step) * step
    slot = plot_w / max(len(points), 1)
    every = 1 if period == "month" else 4
    bars, dots, rows = [], [], []
    for i, p in enumerate(points):
        start = date.fromisoformat(p["start"])
        height = plot_h * p["activated"] / scale_top
        x = LEFT + i * slot + slot * 0.15
        label = _period_name(start, period, short=True) if (len(points) - 1 - i) % every == 0 else ""
        bars.append(Bar(x=round(x, 1), y=round(base - height, 1), width=round(slot * 0.7, 1), height=round(height, 1),
                        label=label, label_x=round(LEFT + (i + 0.5) * slot, 1), value=p["activated"]))
        dots.append((round(LEFT + (i + 0.5) * slot, 1), round(base - plot_h * p["cumulative_share"], 1)))
        rows.append({"period": _period_name(start, period, short=False), "activated": p["activated"],
                     "cumulative": p["cumulative"], "share": f"{round(100 * p['cumulative_share'])}\u202f%"})
    left_ticks = [(round(base - plot_h * v / scale_top, 1), str(v)) for v in range(0, scale_top + 1, step)]
    right_ticks = [(round(base - plot_h * v / 100, 1), f"{v}\u202f%") for v in (0, 25, 50, 75, 100)]
    unit = "mois" if period == "month" else "semaine"
    span = "des 12 derniers mois" if period == "month" else "des 52 dernières semaines"
    total = sum(p["activated"] for p in points)
    first_share = rows[0]["share"] if rows else "0\u202f%"
    last_share = rows[-1]["share"] if rows else "0\u202f%"
    description = (f"Barres : comptes activés par {unit} ({total} au total {span}, au plus {peak if total else 0} "
                   f"en un{'e' if unit == 'semaine' else ''} {unit}). Courbe : part cumulée des comptes activés, "
                   f"de {first_share} à {last_share}.")
    return Chart(title=f"Activations par {unit} {span}", description=description, bars=bars,
                 line=" ".join(f"{x},{y}" for x, y in dots), dots=dots, left_ticks=left_ticks,
                 right_ticks=right_ticks, rows=rows, period_label="Mois" if period == "month" else "Semaine")


@routes.get("/agence/statistiques")
async def statistics(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    periode = request.query.get("periode") if request.query.get("periode") in PERIODS else "mois"
    reply = await agency_call(request, "tenancy", "GET", "/api/v1/activation-stats",
                              params={"by": "residence", "series": PERIODS[periode]})
    context: dict = {"periode": periode, "periods": PERIODS}
    status = 200
    if reply.status == 200:
        body = reply.body
        context.update(summary=summarize(body), counts=body, chart=build_chart(body.get("series") or {}),
                       residences=[{"name": r["name"], "ref": r["ref"], **summarize(r)}
                                   for r in body.get("residences", [])])
    else:
        status, context["error_message"] = 503, UNAVAILABLE
    return render(request, "console/statistics.html", status=status, staff=request.get(STAFF), active="statistiques",
                  **context)

"""Operations pages for staff (``/support/ops``): the KPI dashboard, its CSV, the fleet map.

A second blueprint of the staff audience (web/support.py holds the first), behind the same
``staff_required`` guard, at supervisor level: an agent acts for customers, operations
figures and the live whereabouts of every driver are a supervisor's. Charts are SVG drawn
here on the server (no script, no inline style: the CSP holds); the map is Leaflet fed by
``static/js/fleet.js`` over the ``fleet:<depot>`` room on ``/live``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from ..domain import kpis as definitions
from ..domain.errors import NotFound
from ..domain.model import VEHICLE_LABELS, VehicleKind
from ..services import fleet as fleet_service
from ..services import kpis as kpi_service
from . import services, settings
from .support_auth import staff_required

bp = Blueprint("support_ops", __name__, url_prefix="/support/ops")

ROLE = fleet_service.OPS_ROLE


class BadFilter(ValueError):
    """A filter in the query string that cannot be read."""


# ---------------------------------------------------------------- the dashboard


@bp.get("")
@staff_required(ROLE)
def dashboard() -> ResponseReturnValue:
    """Show a day's KPIs for a depot (or all) and a driver (or all), with charts."""
    try:
        day, depot_id, driver_id = _filters()
        result = kpi_service.day_kpis(services(), day, depot_id, driver_id)
    except (BadFilter, NotFound) as error:
        return _bad_filter(str(error))
    return render_template(
        "support/ops_dashboard.html",
        day=result,
        definitions=definitions.DEFINITIONS,
        labels=VEHICLE_LABELS,
        charts=_charts(result),
        error=None,
    )


@bp.get("/kpis.csv")
@staff_required(ROLE)
def kpis_csv() -> ResponseReturnValue:
    """Send the day's KPIs as CSV: one row per driver and the total."""
    try:
        day, depot_id, _ = _filters()
        text = kpi_service.kpis_csv(services(), day, depot_id)
    except (BadFilter, NotFound) as error:
        return Response(
            f"{error}\n", status=400 if isinstance(error, BadFilter) else 404, mimetype="text/plain"
        )
    name = f"kpis-{day.isoformat()}{f'-depot{depot_id}' if depot_id else ''}.csv"
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _filters() -> tuple[date, int | None, int | None]:
    """Read ``date`` (YYYY-MM-DD, default today), ``depot`` and ``driver`` (ids, optional)."""
    raw = request.args.get("date", "").strip()
    try:
        day = date.fromisoformat(raw) if raw else services().today()
    except ValueError:
        raise BadFilter(f"'{raw[:20]}' is not a day: use YYYY-MM-DD, e.g. 2026-03-02.") from None
    return day, _id("depot"), _id("driver")


def _id(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise BadFilter(f"Choose a {name} from the list.")
    return int(raw)


def _bad_filter(message: str) -> ResponseReturnValue:
    today = services().today()
    empty = kpi_service.day_kpis(services(), today)
    status = 404 if message.startswith("There is no") else 400
    return (
        render_template(
            "support/ops_dashboard.html",
            day=empty,
            definitions=definitions.DEFINITIONS,
            labels=VEHICLE_LABELS,
            charts=_charts(empty),
            error=message,
        ),
        status,
    )


# ---------------------------------------------------------------- charts (server-side SVG)


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal bar chart, laid out in SVG user units."""

    label: str
    text: str  # the value as shown at the bar's end
    y: float
    width: float
    css: str = ""


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart: a title, bars and the drawing's size."""

    id: str
    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int
    empty: str


CHART_WIDTH, LABEL_WIDTH, VALUE_WIDTH, BAR_HEIGHT, GAP = 400, 120, 56, 18, 8


def bar_chart(
    id: str,
    title: str,
    values: list[tuple[str, float | None, str]],
    fmt: str,
    *,
    empty: str = "Nothing to show yet.",
) -> BarChart:
    """Lay out bars for ``(label, value, css class)``; a None value gets no bar and a dash."""
    top = max((v for _, v, _ in values if v is not None), default=0.0)
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = [
        Bar(
            label=label if len(label) <= 16 else label[:15] + "…",
            text="—" if value is None else fmt.format(value),
            y=i * (BAR_HEIGHT + GAP),
            width=0.0 if value is None or top <= 0 else round(span * value / top, 1),
            css=css,
        )
        for i, (label, value, css) in enumerate(values)
    ]
    height = max(1, len(bars)) * (BAR_HEIGHT + GAP)
    return BarChart(id, title, bars, CHART_WIDTH, height, LABEL_WIDTH, BAR_HEIGHT, empty)


def _charts(day: kpi_service.DayKpis) -> list[BarChart]:
    rows = day.drivers
    if day.driver_id is not None:
        rows = [r for r in rows if r.driver_id == day.driver_id]

    def clean(kind: VehicleKind) -> str:
        return "ops-bar-clean" if kind in definitions.ZERO_EMISSION else ""

    return [
        bar_chart(
            "stops-per-hour",
            "Stops per hour, per driver",
            [(r.name, r.kpis.stops_per_hour, clean(r.vehicle)) for r in rows],
            "{:.1f}",
        ),
        bar_chart(
            "cost-per-delivery",
            "Cost per delivery, per driver",
            [(r.name, r.kpis.cost_per_delivery, clean(r.vehicle)) for r in rows],
            "{:.2f}",
        ),
        bar_chart(
            "ratings",
            "Ratings",
            [
                (f"{score} ★", float(n), f"ops-bar-score{score}")
                for score, n in zip(range(5, 0, -1), reversed(day.total.ratings), strict=True)
            ],
            "{:.0f}",
        ),
    ]


# ---------------------------------------------------------------- the fleet map


@bp.get("/fleet")
@staff_required(ROLE)
def fleet() -> ResponseReturnValue:
    """Show a depot's drivers of today on a live map."""
    try:
        depot_id = _id("depot")
        result = fleet_service.fleet_of(services(), depot_id)
    except BadFilter as error:
        abort(400, str(error))
    except NotFound as error:
        abort(404, str(error))
    cfg = settings()
    return render_template(
        "support/fleet.html",
        fleet=result,
        labels=VEHICLE_LABELS,
        data=fleet_payload(result),
        timezone=cfg.timezone,
        map_tile_url=cfg.map_tile_url,
        map_tile_attribution=cfg.map_tile_attribution,
    )


@bp.get("/fleet.json")
@staff_required(ROLE)
def fleet_json() -> ResponseReturnValue:
    """Return the fleet map's data again (the page refreshes stops and late flags with it)."""
    try:
        result = fleet_service.fleet_of(services(), _id("depot"))
    except BadFilter as error:
        return jsonify(error=str(error)), 400
    except NotFound as error:
        return jsonify(error=str(error)), 404
    return jsonify(fleet_payload(result))


def fleet_payload(f: fleet_service.Fleet) -> dict[str, Any]:
    """Return what fleet.js draws: the depot, and per driver their line, stops and position."""
    return {
        "depot": {"id": f.depot.id, "name": f.depot.name, "lat": f.depot.lat, "lng": f.depot.lng},
        "asOf": f.as_of.isoformat(),
        "drivers": [
            {
                "id": d.driver_id,
                "name": d.name,
                "vehicle": VEHICLE_LABELS[d.vehicle],
                "status": str(d.route_status),
                "position": [d.lat, d.lng] if d.lat is not None and d.lng is not None else None,
                "at": d.position_at.isoformat() if d.position_at else None,
                "line": [list(p) for p in d.line],
                "stops": [
                    {
                        "id": s.stop_id,
                        "seq": s.sequence,
                        "lat": s.lat,
                        "lng": s.lng,
                        "parcels": s.parcels,
                        "expected": s.expected_arrival.isoformat() if s.expected_arrival else None,
                        "windowEnd": s.window_end.isoformat() if s.window_end else None,
                        "late": s.late,
                    }
                    for s in d.remaining
                ],
                "closed": d.closed,
                "total": d.stops,
                "late": d.late,
            }
            for d in f.drivers
        ],
    }

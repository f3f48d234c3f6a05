"""Geometry of the dashboard's inline SVG charts, computed here so that templates only place rectangles.

SVG attributes are not CSS, so the charts need no inline styles and pass the
site's Content-Security-Policy.
"""

import dataclasses

from apps.integrations.selectors import HourBar

CHART_WIDTH = 960
CHART_HEIGHT = 120
CASE_BAR_WIDTH = 200


@dataclasses.dataclass(frozen=True)
class StackedBar:
    x: float
    width: float
    succeeded_y: float
    succeeded_height: float
    failed_y: float
    failed_height: float
    label: str


def hour_bars(hours: list[HourBar]) -> list[StackedBar]:
    """Return one stacked bar per hour (succeeded below, failed above), scaled to the busiest hour."""
    if not hours:
        return []
    busiest = max(bar.succeeded + bar.failed for bar in hours) or 1
    slot = CHART_WIDTH / len(hours)
    bars = []
    for index, bar in enumerate(hours):
        succeeded_height = CHART_HEIGHT * bar.succeeded / busiest
        failed_height = CHART_HEIGHT * bar.failed / busiest
        bars.append(
            StackedBar(
                x=round(index * slot + 1, 1),
                width=round(slot - 2, 1),
                succeeded_y=round(CHART_HEIGHT - succeeded_height, 1),
                succeeded_height=round(succeeded_height, 1),
                failed_y=round(CHART_HEIGHT - succeeded_height - failed_height, 1),
                failed_height=round(failed_height, 1),
                label=f"{bar.hour:%H:%M}: {bar.succeeded} succeeded, {bar.failed} failed",
            )
        )
    return bars


def case_bar_widths(cases: list[dict]) -> list[dict]:
    """Return the case rows, each with ``bar_width``: its count scaled to the largest count."""
    largest = max((row["count"] for row in cases), default=0) or 1
    return [{**row, "bar_width": round(CASE_BAR_WIDTH * row["count"] / largest, 1)} for row in cases]

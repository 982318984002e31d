"""The digest's trend as a PNG chart, for people who would rather look than read: points
issued, redeemed and expired per date above, the liability at each date's end below.

matplotlib with its Agg backend (no display, no GUI toolkit: it runs under systemd), imported
when a chart is drawn, so that every other `jifen` command starts without it. The figures
plotted are the digest's integers; a chart is a picture of them, never a source of figures.
"""

from __future__ import annotations

import io

from clearing.digest.model import DailyDigest

# 1200 x 800 pixels: readable on a laptop and in an e-mail.
CHART_WIDTH_IN = 12.0
CHART_HEIGHT_IN = 8.0
CHART_DPI = 100


def render_png(digest: DailyDigest) -> bytes:
    """The trend of `digest` as PNG bytes; the digest must have a trend."""
    assert digest.trend, "a chart is drawn of a digest built with a trend"
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    dates = [day.business_date for day in digest.trend]
    figure = Figure(figsize=(CHART_WIDTH_IN, CHART_HEIGHT_IN), dpi=CHART_DPI)
    flows, liability = figure.subplots(2, 1, sharex=True)
    for label, values in (
            ("points issued", [day.flows.points_issued + day.flows.points_given
                               for day in digest.trend]),
            ("points redeemed", [day.flows.points_redeemed + day.flows.points_exchanged
                                 for day in digest.trend]),
            ("points expired", [day.flows.points_expired for day in digest.trend])):
        flows.plot(dates, values, marker="o", label=label)
    flows.set_title(f"{digest.alliance}: points per business date, {dates[0]} to {dates[-1]}")
    flows.set_ylabel("points")
    flows.legend()
    flows.grid(True, alpha=0.3)
    liability.plot(dates, [day.liability_points for day in digest.trend], marker="o",
                   color="tab:red", label="liability (points outstanding)")
    liability.set_ylabel("points")
    liability.legend()
    liability.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

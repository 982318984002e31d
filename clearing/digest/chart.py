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


FLOW_SERIES = ("points issued (at merchants and by HQ)",
               "points redeemed (at merchants and into stored value)", "points expired")
LIABILITY_SERIES = "liability (points outstanding)"


def chart_series(digest: DailyDigest) -> dict[str, list[int]]:
    """What the chart plots, per series one figure per date of the trend, oldest first."""
    trend = digest.trend
    issued, redeemed, expired = FLOW_SERIES
    return {
        issued: [day.flows.points_issued + day.flows.points_given for day in trend],
        redeemed: [day.flows.points_redeemed + day.flows.points_exchanged for day in trend],
        expired: [day.flows.points_expired for day in trend],
        LIABILITY_SERIES: [day.liability_points for day in trend],
    }


def render_png(digest: DailyDigest) -> bytes:
    """The trend of `digest` as PNG bytes; the digest must have a trend."""
    assert digest.trend, "a chart is drawn of a digest built with a trend"
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    dates = [day.business_date for day in digest.trend]
    series = chart_series(digest)
    figure = Figure(figsize=(CHART_WIDTH_IN, CHART_HEIGHT_IN), dpi=CHART_DPI)
    flows, liability = figure.subplots(2, 1, sharex=True)
    for label in FLOW_SERIES:
        flows.plot(dates, series[label], marker="o", label=label)
    flows.set_title(f"{digest.alliance}: points per business date, {dates[0]} to {dates[-1]}")
    flows.set_ylabel("points")
    flows.legend()
    flows.grid(True, alpha=0.3)
    liability.plot(dates, series[LIABILITY_SERIES], marker="o", color="tab:red",
                   label=LIABILITY_SERIES)
    for axes in (flows, liability):
        axes.ticklabel_format(axis="y", style="plain", useOffset=False)
    liability.set_ylabel("points")
    liability.legend()
    liability.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

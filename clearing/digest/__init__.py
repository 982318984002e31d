"""The daily digest (日报, `jifen report daily`, docs/reports.md): one alliance's business
date at a glance, read from the journal over every partition, read only: members active and
new, points issued, redeemed and expired, stored value loaded and spent, the merchants that
issued most, the points liability, and the terminals that did not reconcile; with a trend of
the last days, as a table, CSV, JSON and a PNG chart.
"""

from clearing.digest.build import TREND_DAYS_MAX, build_digest
from clearing.digest.chart import render_png
from clearing.digest.model import DailyDigest, DayFlows, Liability, MerchantFigures, TrendDay
from clearing.digest.render import render_csv, render_json, render_table

FORMATS = ("table", "csv", "json")

__all__ = [
    "FORMATS", "TREND_DAYS_MAX", "DailyDigest", "DayFlows", "Liability", "MerchantFigures",
    "TrendDay", "build_digest", "render_csv", "render_json", "render_png", "render_table",
]

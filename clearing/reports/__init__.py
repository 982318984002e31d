"""Reports of a cleared date for operators (`jifen clearing report`): the HQ summary (总帐),
the per-merchant detail (明细) and the terminal batches out of balance or never reconciled,
as a table, CSV or JSON. Read from the clearing tables; the run and its adjustments shown as
original + adjustments = final.
"""

from clearing.reports.load import build_report
from clearing.reports.model import (
    BatchIssue,
    ClearingReport,
    HqSummary,
    Instruction,
    Line,
    MerchantDetail,
    RunRef,
)
from clearing.reports.render import render_csv, render_json, render_table

FORMATS = ("table", "csv", "json")

__all__ = [
    "FORMATS", "BatchIssue", "ClearingReport", "HqSummary", "Instruction", "Line",
    "MerchantDetail", "RunRef", "build_report", "render_csv", "render_json", "render_table",
]

"""The digest for people and spreadsheets: an aligned table (Chinese labels beside English,
yuan made from fen by integer arithmetic), CSV (one table, the same columns on every row; the
caller adds the byte order mark for a file) and JSON (integer fen, `*_fen`)."""

from __future__ import annotations

import csv
import io

import msgspec

from clearing.digest.model import DailyDigest, DayFlows
from clearing.reports.model import BATCH_STATE_LABELS
from clearing.reports.render import format_rows
from clearing.results import format_fen

CSV_COLUMNS = ("section", "item", "label", "points", "count", "yuan", "detail")

# (field of DayFlows, Chinese, English), in the order the digest lists them.
POINTS_LINES = (
    ("points_issued", "积分发行", "issued at merchants"),
    ("points_given", "总部赠送", "given by HQ (bonuses, adjustments, lottery)"),
    ("points_redeemed", "积分兑换", "redeemed at merchants"),
    ("points_exchanged", "积分转储值", "exchanged into stored value"),
    ("points_expired", "过期积分", "expired or forfeited (breakage)"),
)
STORED_VALUE_LINES = (
    ("stored_value_loaded_fen", "储值充值", "loaded"),
    ("stored_value_spent_fen", "储值消费", "spent"),
)
# The trend's series in CSV: (key, label, the figure of a TrendDay).
TREND_SERIES = ("points_issued", "points_redeemed", "points_expired", "liability_points")


def render_json(digest: DailyDigest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(digest), indent=2) + b"\n"


def _flow(flows: DayFlows, field: str) -> int:
    value = getattr(flows, field)
    assert isinstance(value, int)
    return value


def render_table(digest: DailyDigest) -> str:
    flows, liability = digest.flows, digest.liability
    lines = [f"日报 Daily digest  {digest.alliance}  {digest.business_date}"
             f"  (partitions: {', '.join(digest.partitions)})", ""]
    rows = [["会员 members", "活跃 active", str(digest.members_active)],
            ["会员 members", "新增 new", str(digest.members_new)]]
    rows += [["积分 points", f"{chinese} {english}", str(_flow(flows, field))]
             for field, chinese, english in POINTS_LINES]
    rows += [["储值 stored value", f"{chinese} {english}",
              format_fen(_flow(flows, field))] for field, chinese, english in STORED_VALUE_LINES]
    rows += [["积分负债 liability", "积分 points outstanding", str(liability.points)],
             ["积分负债 liability",
              f"金额 at the issue price, {liability.issue_price_fen} fen/point",
              format_fen(liability.amount_fen)]]
    lines += format_rows(["section", "item", "points / count / yuan"], rows, 2)
    lines += ["", "商户排行 Top merchants (by points issued)"]
    if digest.top_merchants:
        lines += ["  " + row for row in format_rows(
            ["merchant", "name", "issued", "redeemed", "loaded yuan", "spent yuan",
             "transactions"],
            [[m.merchant, m.name, str(m.points_issued), str(m.points_redeemed),
              format_fen(m.stored_value_loaded_fen), format_fen(m.stored_value_spent_fen),
              str(m.transactions)] for m in digest.top_merchants], 2)]
    else:
        lines.append("  none: nothing moved at a merchant")
    lines += ["", "终端对账 Terminals that did not reconcile"]
    if digest.terminal_batches:
        lines += ["  " + row for row in format_rows(
            ["merchant", "terminal", "batch", "state", "transactions"],
            [[b.merchant, b.terminal, f"{b.batch_number:06d}",
              " ".join(BATCH_STATE_LABELS[b.state]), str(b.transactions)]
             for b in digest.terminal_batches], 4)]
    else:
        lines.append("  none: every batch of the date reconciled")
    queue = digest.risk_queue
    lines += ["", "风控 Risk queue (open reviews now, `jifen risk queue`)",
              f"  blocks {queue.open_blocks}, warnings {queue.open_warnings}"
              + (f"; oldest raised {queue.oldest_open_at:%Y-%m-%d %H:%M} UTC"
                 if queue.oldest_open_at is not None else "")]
    if digest.trend:
        lines += ["", f"趋势 Trend: {len(digest.trend)} days"]
        lines += ["  " + row for row in format_rows(
            ["date", "issued", "given", "redeemed", "exchanged", "expired", "liability"],
            [[str(t.business_date), str(t.flows.points_issued), str(t.flows.points_given),
              str(t.flows.points_redeemed), str(t.flows.points_exchanged),
              str(t.flows.points_expired), str(t.liability_points)] for t in digest.trend], 1)]
    return "\n".join(lines) + "\n"


def csv_rows(digest: DailyDigest) -> list[list[str]]:
    """The digest as rows of CSV_COLUMNS; points and counts whole, yuan with two decimals."""
    flows, liability = digest.flows, digest.liability
    rows = [["members", "active", "活跃会员 members active", "", str(digest.members_active),
             "", ""],
            ["members", "new", "新会员 new members", "", str(digest.members_new), "", ""]]
    rows += [["points", field, f"{chinese} {english}", str(_flow(flows, field)), "", "", ""]
             for field, chinese, english in POINTS_LINES]
    rows += [["stored_value", field.removesuffix("_fen"), f"{chinese} {english}", "", "",
              format_fen(_flow(flows, field)), ""] for field, chinese, english
             in STORED_VALUE_LINES]
    rows.append(["liability", "points", "积分负债 points outstanding", str(liability.points),
                 "", format_fen(liability.amount_fen),
                 f"at the issue price of {liability.issue_price_fen} fen per point"])
    rows += [["top_merchant", m.merchant, m.name, str(m.points_issued), str(m.transactions),
              format_fen(m.stored_value_spent_fen),
              f"redeemed {m.points_redeemed} points; loaded "
              f"{format_fen(m.stored_value_loaded_fen)} yuan"] for m in digest.top_merchants]
    rows += [["terminal_batch", b.terminal, " ".join(BATCH_STATE_LABELS[b.state]), "",
              str(b.transactions), "", f"merchant {b.merchant} batch {b.batch_number:06d} "
              f"code {b.result_code or '-'}"] for b in digest.terminal_batches]
    queue = digest.risk_queue
    oldest = ("" if queue.oldest_open_at is None
              else f"oldest raised {queue.oldest_open_at:%Y-%m-%d %H:%M:%S} UTC")
    rows += [["risk_queue", "blocks", "风控 open reviews that blocked a card", "",
              str(queue.open_blocks), "", oldest],
             ["risk_queue", "warnings", "风控 open reviews raised as warnings", "",
              str(queue.open_warnings), "", ""]]
    for day in digest.trend:
        figures = {"points_issued": day.flows.points_issued,
                   "points_redeemed": day.flows.points_redeemed,
                   "points_expired": day.flows.points_expired,
                   "liability_points": day.liability_points}
        rows += [["trend", str(day.business_date), key, str(figures[key]), "", "", ""]
                 for key in TREND_SERIES]
    return rows


def render_csv(digest: DailyDigest) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(digest))
    return buffer.getvalue()

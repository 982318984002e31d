"""What the clearing commands return, with merchants named by code (field 42) and HQ as
"HQ": for printing, for --json, and for the reports."""

from __future__ import annotations

from datetime import date

import msgspec

from clearing.compute import Key, Position, settle

HQ = "HQ"


class PositionRow(msgspec.Struct, frozen=True):
    merchant: str                  # merchant code, or HQ
    category: str
    points: int
    amount_fen: int                # + HQ owes the merchant (HQ lines: + HQ income)
    count: int


class NetRow(msgspec.Struct, frozen=True):
    party: str                     # merchant code, or HQ
    net_fen: int                   # + receives, - pays


class InstructionRow(msgspec.Struct, frozen=True):
    payer: str
    payee: str
    amount_fen: int


class RunResult(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    run_id: int
    kind: str                      # 'run' or 'adjustment' (then: deltas)
    adjusts_run_id: int | None
    journal_entries: int
    elapsed_ms: int
    positions: list[PositionRow]
    nets: list[NetRow]
    instructions: list[InstructionRow]
    partitions: list[str] = []     # the partitions read, central's first


class Difference(msgspec.Struct, frozen=True):
    merchant: str
    category: str
    stored: tuple[int, int, int]       # (points, amount_fen, count) of the runs summed
    recomputed: tuple[int, int, int]


class VerifyResult(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    run_ids: list[int]
    identical: bool
    differences: list[Difference]


def party(merchant_id: int | None, codes: dict[int, str]) -> str:
    return HQ if merchant_id is None else codes.get(merchant_id, str(merchant_id))


def run_result(
    alliance_code: str, day: date, run_id: int, kind: str, adjusts_run_id: int | None,
    codes: dict[int, str], positions: list[Position], journal_entries: int, elapsed_ms: int,
    partitions: list[str],
) -> RunResult:
    nets, instructions = settle(positions)
    return RunResult(
        alliance_code, day, run_id, kind, adjusts_run_id, journal_entries, elapsed_ms,
        [PositionRow(party(p.merchant_id, codes), p.category, p.points, p.amount_fen, p.count)
         for p in positions],
        [NetRow(party(net.merchant_id, codes), net.net_fen) for net in nets],
        [InstructionRow(party(i.payer_merchant_id, codes), party(i.payee_merchant_id, codes),
                        i.amount_fen) for i in instructions],
        partitions,
    )


def describe_difference(
    key: Key, stored: Position | None, recomputed: Position | None, codes: dict[int, str]
) -> Difference:
    def amounts(position: Position | None) -> tuple[int, int, int]:
        if position is None:
            return (0, 0, 0)
        return (position.points, position.amount_fen, position.count)

    return Difference(party(key[0], codes), key[1], amounts(stored), amounts(recomputed))


def format_fen(amount_fen: int) -> str:
    """Yuan with two decimals, exactly (no floats): -1234 -> -12.34."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{yuan}.{fen:02d}"

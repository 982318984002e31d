"""A query's filters as numbered parameters: each condition names its value once, and the
keyset of a page comes last, so that no filter is ever formatted into the SQL text."""

from __future__ import annotations


class Conditions:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.arguments: list[object] = []

    def add(self, template: str, value: object) -> None:
        """`template` with `{}` where the value's parameter goes: "t.rrn = {}"."""
        self.arguments.append(value)
        self.texts.append(template.format(f"${len(self.arguments)}"))

    def after_key(self, columns: str, values: tuple[object, ...]) -> None:
        """Rows whose `columns` (a row constructor's list) come after `values` in descending
        order: the keyset of the next page."""
        first = len(self.arguments) + 1
        self.arguments.extend(values)
        placeholders = ", ".join(f"${first + index}" for index in range(len(values)))
        self.texts.append(f"({columns}) < ({placeholders})")

    def limit(self, rows: int) -> str:
        """The LIMIT clause, its value the last parameter."""
        self.arguments.append(rows)
        return f"LIMIT ${len(self.arguments)}"

"""A progress bar on stderr for an operator at a terminal; nothing when stderr is not one
(the nightly timer, a pipe, tests)."""

from __future__ import annotations

import sys
from typing import TextIO

# Characters of the bar itself; the line stays within 80 columns.
BAR_WIDTH = 40


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self._shown = -1

    @property
    def enabled(self) -> bool:
        return self._stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        percent = min(100, done * 100 // total)
        if percent == self._shown:
            return
        self._shown = percent
        filled = percent * BAR_WIDTH // 100
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                           f"{percent:3d}%")
        if percent == 100:
            self._stream.write("\n")
        self._stream.flush()

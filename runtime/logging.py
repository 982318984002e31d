"""Logs for every process on stderr: JSON, one object a line, for machines; or, for people at
a terminal (`jifen up` in a shell), structlog's console rendering of the same events.

A last-line defence masks any `pan` value that reaches a log call unmasked; components mask
PANs themselves, this only catches mistakes.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor

from proto.pan import mask_pan

_SENSITIVE_KEYS = frozenset({"pin_block", "key", "tmk", "session_key", "kek"})


def _mask_sensitive(_logger: object, _method: str, event: EventDict) -> EventDict:
    pan = event.get("pan")
    if isinstance(pan, str) and "*" not in pan:
        event["pan"] = mask_pan(pan)
    for key in _SENSITIVE_KEYS.intersection(event):
        event[key] = "***"
    return event


def configure_logging(
    level: str = "info", process: str | None = None, log_format: str = "json",
) -> None:
    """`log_format`: "json", "console", or "auto" (console when stderr is a terminal)."""
    level_number = logging.getLevelName(level.upper())
    if not isinstance(level_number, int):
        level_number = logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level_number, format="%(message)s")
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_sensitive,
        structlog.processors.format_exc_info,
        _renderer(log_format),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    if process:
        structlog.contextvars.bind_contextvars(process=process)


def _renderer(log_format: str) -> Processor:
    if log_format == "auto":
        log_format = "console" if sys.stderr.isatty() else "json"
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    assert log_format == "json", log_format
    return structlog.processors.JSONRenderer()

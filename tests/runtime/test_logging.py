"""The logs' two forms: JSON for machines, console lines for a person at a terminal; card
numbers masked in both."""

from __future__ import annotations

import json

import pytest
import structlog

from runtime.config import LogConfig
from runtime.logging import configure_logging

PAN = "6221880000000018"


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()


def _emit(capsys: pytest.CaptureFixture[str], log_format: str) -> str:
    configure_logging("info", process="host", log_format=log_format)
    structlog.get_logger("test").info("purchase_approved", pan=PAN, amount=1_000)
    return capsys.readouterr().err.strip()


def test_json_for_machines(capsys) -> None:
    line = json.loads(_emit(capsys, "json"))
    assert (line["event"], line["pan"], line["process"]) == (
        "purchase_approved", "622188******0018", "host")


def test_console_for_people(capsys) -> None:
    line = _emit(capsys, "console")
    assert line.startswith("20") and "purchase_approved" in line and "process=host" in line
    assert "pan=622188******0018" in line and PAN not in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_auto_is_json_when_stderr_is_no_terminal(capsys) -> None:
    assert LogConfig().format == "auto"
    assert json.loads(_emit(capsys, "auto"))["event"] == "purchase_approved"


def test_auto_is_console_on_a_terminal() -> None:
    """`jifen up` in a shell: its stderr, and its services', is a terminal."""
    import os
    import subprocess
    import sys

    primary, secondary = os.openpty()
    code = ("import structlog; from runtime.logging import configure_logging;"
            " configure_logging('info', process='front', log_format='auto');"
            f" structlog.get_logger('t').info('signed_on', pan='{PAN}')")
    try:
        subprocess.run([sys.executable, "-c", code], stderr=secondary, check=True, timeout=30)
        output = os.read(primary, 4096).decode()
    finally:
        os.close(primary)
        os.close(secondary)
    assert "signed_on" in output and "pan=622188******0018" in output
    assert not output.lstrip().startswith("{")

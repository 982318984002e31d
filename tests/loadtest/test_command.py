"""`jifen loadtest`'s options for the latency phase: the renamed one refused with its new name,
and a latency rate only where there is a latency phase. Nothing here starts a system."""

from __future__ import annotations

import argparse

import pytest

from jifen.cli import build_parser, main
from jifen.commands.loadtest import _options


def _parse(*arguments: str) -> argparse.Namespace:
    return build_parser().parse_args(["loadtest", *arguments])


class TestLatencyPhaseOptions:
    def test_by_default_the_phase_runs_at_pgbenchs_rate(self) -> None:
        options = _options(_parse(), start=True, database_url="postgresql:///x")
        assert options.latency_phase and options.latency_rate_per_s is None

    def test_no_latency_phase(self) -> None:
        options = _options(_parse("--no-latency-phase"), start=True,
                           database_url="postgresql:///x")
        assert not options.latency_phase

    def test_latency_rate(self) -> None:
        options = _options(_parse("--no-pgbench", "--latency-rate", "900"), start=True,
                           database_url="postgresql:///x")
        assert options.latency_phase and options.latency_rate_per_s == 900.0
        assert not options.pgbench

    def test_the_old_spelling_is_refused_naming_the_new_one(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            _parse("--no-half-peak")
        assert exited.value.code == 2
        assert "--no-half-peak is now --no-latency-phase" in capsys.readouterr().err

    def test_the_old_spelling_is_not_in_the_help(self) -> None:
        subparsers = next(action for action in build_parser()._actions
                          if isinstance(action, argparse._SubParsersAction))
        help_text = subparsers.choices["loadtest"].format_help()
        assert "--no-latency-phase" in help_text and "half" not in help_text

    def test_skipping_the_phase_and_giving_its_rate_conflict(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            _parse("--no-latency-phase", "--latency-rate", "900")
        assert "not allowed with" in capsys.readouterr().err

    def test_an_open_loop_run_takes_no_latency_rate(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["loadtest", "--rate", "500", "--latency-rate", "900"]) != 0
        assert "with --rate the run is an open loop already" in capsys.readouterr().err

"""loadtest.sync_cost's own parts; its figures are in docs/reliability.md, "Fail-over"."""

from __future__ import annotations

import pytest

from loadtest.sync_cost import _figures, parse_options, render


def test_figures_from_a_load_test_report():
    report = {"system": {"approved_per_s": 4161.07, "latency": {"p50_ms": 59.4, "p99_ms": 104.2}},
              "batches": [{"mean_batch_size": 102.3, "mean_commit_ms": 19.38}]}
    figures = _figures(True, report)
    assert (figures.approved_per_s, figures.mean_commit_ms) == (4161.07, 19.38)
    table = render([figures, _figures(False, report)])
    assert "synchronous          4,161     59.4    104.2   102.3       19.38" in table
    assert table.splitlines()[2].startswith("asynchronous")


def test_options():
    options = parse_options(["--rate", "100", "--terminals", "4"])
    assert (options.rate_per_s, options.terminals, options.rounds) == (100.0, 4, 2)
    assert parse_options([]).rate_per_s is None
    with pytest.raises(SystemExit):
        parse_options(["--rounds", "0"])

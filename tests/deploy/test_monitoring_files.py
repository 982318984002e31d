"""deploy/'s alert rules and dashboard name metrics the services export: a renamed metric must
not leave an alert that never fires or a panel that stays empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import prometheus_client
import pytest

import account_host.metrics
import acquirer_front.metrics
import back_office.transit.metrics
import dialup.metrics
import notifications.metrics
import switch.metrics
from clearing.nightly import METRIC_HELP

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "jifen-alerts.yml"
DASHBOARDS = sorted((DEPLOY / "dashboards").glob("*.json"))
GRID_COLUMNS = 24

_METRIC_NAME = re.compile(r"\b(?:jifen|process)_[a-z0-9_]+\b")
_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
             "histogram": ("_bucket", "_sum", "_count", "_created")}

# The modules above register their metrics on the default registry when imported.
_EXPORTERS = (account_host.metrics, acquirer_front.metrics, back_office.transit.metrics,
              dialup.metrics, notifications.metrics, switch.metrics)


def exported_names() -> set[str]:
    """Every series name the services expose, and the nightly clearing's textfile gauges."""
    names = set(METRIC_HELP)
    for family in prometheus_client.REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_expressions(path: Path) -> list[str]:
    panels = json.loads(path.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_the_exporters_are_loaded() -> None:
    exported = exported_names()
    assert "jifen_host_commit_seconds_bucket" in exported
    assert "jifen_front_requests_total" in exported


def test_every_alert_names_an_exported_metric() -> None:
    used = set(_METRIC_NAME.findall(ALERTS.read_text()))
    assert used, "no metric found in the alert rules"
    unknown = used - exported_names()
    assert not unknown, sorted(unknown)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_dashboard_query_names_an_exported_metric(path: Path) -> None:
    expressions = dashboard_expressions(path)
    assert expressions and all(expression.strip() for expression in expressions)
    used = {name for expression in expressions for name in _METRIC_NAME.findall(expression)}
    unknown = used - exported_names()
    assert not unknown, sorted(unknown)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_panels_fit_the_grid_without_overlap(path: Path) -> None:
    panels = json.loads(path.read_text())["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        cells = {(grid["x"] + column, grid["y"] + row)
                 for column in range(grid["w"]) for row in range(grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_there_is_a_dashboard() -> None:
    assert [path.name for path in DASHBOARDS] == ["jifen.json"]


_SERIES_SUFFIX = re.compile(r"_(?:bucket|sum|count|total|created)$")


def _metric(name: str) -> str:
    """The metric a series belongs to (a histogram's _bucket, a counter's _total: itself)."""
    return _SERIES_SUFFIX.sub("", name)


def test_every_metric_an_alert_names_is_on_the_dashboard() -> None:
    """Who is paged finds the alert's metric on a panel, over time, beside the others."""
    alerted = {_metric(name) for name in _METRIC_NAME.findall(ALERTS.read_text())}
    shown = {_metric(name) for path in DASHBOARDS for expression in dashboard_expressions(path)
             for name in _METRIC_NAME.findall(expression)}
    assert alerted - shown == set()

"""deploy/prometheus with Prometheus's own tool: the rules and the configuration load, and every
alert fires in the unit tests of `deploy/prometheus/tests/` where it should and stays quiet
where it should not.

promtool comes with Debian's `prometheus` package (`.ci/run` installs it); where it is missing,
the tests that need it are skipped saying so, and the check that every alert has its cases
still runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "jifen-alerts.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
# promtool evaluates a few hundred samples per test group: seconds at most.
PROMTOOL_TIMEOUT_S = 60.0

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed: apt-get install prometheus")

# How each test group of a promtool test file begins (`tests:` is a list of them).
GROUP_START = "\n  - interval: "

_ALERT = re.compile(r"^\s*- alert:\s*(\w+)\s*$", re.MULTILINE)
# In a test file: `alertname: X` followed (next line) by `exp_alerts: []` or `exp_alerts:`.
_CASE = re.compile(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*(\[\])?")


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=PROMTOOL_TIMEOUT_S, check=False)


def alert_names() -> set[str]:
    return set(_ALERT.findall(ALERTS.read_text()))


def test_there_are_alert_tests() -> None:
    assert [path.name for path in ALERT_TESTS] == ["jifen-alerts.test.yml"]


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in ALERT_TESTS:
        for name, empty in _CASE.findall(path.read_text()):
            (quiet if empty else firing).add(name)
    names = alert_names()
    assert len(names) >= 17, names
    assert {"missing a firing case": names - firing, "missing a quiet case": names - quiet,
            "not an alert": (firing | quiet) - names} == {
        "missing a firing case": set(), "missing a quiet case": set(), "not an alert": set()}


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


@needs_promtool
def test_promtool_checks_the_configuration() -> None:
    # It loads the rule files the configuration names, relative to the configuration.
    result = promtool("check", "config", CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("path", ALERT_TESTS, ids=lambda path: path.name)
def test_promtool_unit_tests_of_the_alerts_pass(path: Path) -> None:
    result = promtool("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The unit tests can fail: the file's first test group, expecting the host down while it
    is up. Only that group: promtool spends about 10 s on the file's last groups (hours and days
    of samples), which the test above runs, and a wrong expectation needs none of them."""
    text = ALERT_TESTS[0].read_text().replace("../jifen-alerts.yml", str(ALERTS))
    header, first_group, *_ = text.split(GROUP_START)
    text = header + GROUP_START + first_group
    broken = text.replace("- eval_time: 75s\n        alertname: JifenProcessDown",
                          "- eval_time: 15s\n        alertname: JifenProcessDown", 1)
    assert broken != text
    (tmp_path / "first.test.yml").write_text(text)
    unbroken = promtool("test", "rules", "first.test.yml", cwd=tmp_path)
    assert unbroken.returncode == 0, "the group alone passes: " + unbroken.stdout + unbroken.stderr
    (tmp_path / "broken.test.yml").write_text(broken)
    result = promtool("test", "rules", "broken.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "JifenProcessDown" in result.stdout + result.stderr

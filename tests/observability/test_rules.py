"""The Prometheus rule files pass ``promtool check rules``, and the alerts behave as their unit tests say."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from observability.rules import RULE_FILES, UNIT_TESTS, Rule, rules
from rig.kafka import REPO_ROOT

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RUNBOOK = REPO_ROOT / "docs" / "observability.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules() -> None:
    """Both rule files are valid for Prometheus 2.42 (Debian's promtool)."""
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check is real: a rule with a PromQL syntax error fails it."""
    broken = yaml.safe_load(RULE_FILES[1].read_text())
    broken["groups"][0]["rules"][0]["expr"] = "sum by (backup_id (kafka_backup_errors_total"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert promtool("check", "rules", str(path)).returncode != 0


def test_alert_unit_tests() -> None:
    """``promtool test rules`` runs the alert scenarios in alert-rules.test.yaml and all pass."""
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_unit_test() -> None:
    """Each alert appears in a unit test that expects it to fire."""
    body = yaml.safe_load(UNIT_TESTS.read_text())
    firing = {case["alertname"] for test in body["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    alerts = {rule.name for rule in rules() if rule.alert}
    assert alerts - firing == set()


@pytest.mark.parametrize("rule", [r for r in rules() if r.alert], ids=lambda r: r.name)
def test_alert_has_severity_and_runbook(rule: Rule) -> None:
    """Each alert has a severity and a runbook link whose anchor exists in docs/observability.md."""
    body = rule.body
    assert body["labels"]["severity"] in ("warning", "critical")
    url: str = body["annotations"]["runbook_url"]
    anchor = url.partition("#")[2]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    assert anchor in headings, f"{url}: no heading for #{anchor} in {RUNBOOK.name}"

"""The shipped Prometheus rule files and Grafana dashboard, loaded once for the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rig.kafka import REPO_ROOT

DASHBOARDS = REPO_ROOT / "dashboards"
RULE_FILES = (DASHBOARDS / "prometheus" / "recording-rules.yaml", DASHBOARDS / "prometheus" / "alert-rules.yaml")
GRAFANA = sorted((DASHBOARDS / "grafana").glob("*.json"))
UNIT_TESTS = Path(__file__).resolve().parent / "alert-rules.test.yaml"


@dataclass(frozen=True)
class Rule:
    file: str
    name: str
    """The alert name or the recorded series name."""
    expr: str
    alert: bool
    body: dict[str, Any]


def rules() -> list[Rule]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule["record"]
                out.append(Rule(path.name, name, rule["expr"], "alert" in rule, rule))
    return out


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    expr: str
    legend: str


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in GRAFANA]


def targets() -> list[Target]:
    return [
        Target(board["title"], panel["title"], target["expr"], target.get("legendFormat", ""))
        for board in dashboards()
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]

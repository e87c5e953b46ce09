"""The Grafana dashboard JSON is what dashboards/generate.py makes of it, and it is laid out sanely."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from observability.rules import GRAFANA, dashboards
from rig.kafka import REPO_ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_generate", REPO_ROOT / "dashboards" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_committed_json_is_generated() -> None:
    """No drift: every committed dashboard equals the generator's output (run `make dashboards` after edits)."""
    rendered: dict[object, str] = generator().render()
    assert {str(p) for p in rendered} == {str(p) for p in GRAFANA}
    for path, text in rendered.items():
        assert path.read_text() == text, f"{path} is stale: run `make dashboards`"  # type: ignore[attr-defined]


def test_check_mode_detects_drift(tmp_path: Path) -> None:
    """``generate.py --check`` fails when the JSON differs from the source, and passes on the committed one."""
    module = generator()
    stale = tmp_path / "kafka-backup.json"
    stale.write_text('{"title": "edited by hand"}\n')
    assert module.main(["--check"], output=stale) == 1
    assert module.main(["--check"]) == 0


def test_layout() -> None:
    """Unique panel ids, panels inside the 24-column grid and not overlapping, a datasource on every query."""
    for board in dashboards():
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
            area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_required_views() -> None:
    """The views the runbook refers to exist: throughput, lag, compression, errors, storage latency, restore."""
    titles = {p["title"] for board in dashboards() for p in board["panels"]}
    for title in (
        "Throughput (records/s)",
        "Lag per partition (records)",
        "Max lag and time lag",
        "Compression ratio",
        "Errors by type",
        "Retries",
        "Write latency by backend and operation",
        "Time since last successful backup",
        "Restore progress",
        "Restore ETA",
        "Restore throughput",
        "Offset reset duration",
    ):
        assert title in titles

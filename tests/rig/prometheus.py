"""A real Prometheus server (Debian's ``prometheus`` package) for tests: scrape targets, evaluate rules, answer PromQL.

:class:`Prometheus` runs ``/usr/bin/prometheus`` on a free loopback port with its TSDB in a temporary work dir and
its log in ``<workdir>/prometheus.log``. The config is generated: one scrape job per :meth:`Prometheus.scrape` call,
plus the rule files given (their copies get the test's evaluation interval, so a recording rule with
``interval: 30s`` evaluates every second here). Targets change through a config rewrite and ``POST /-/reload``, so a
test can add the port of a process it starts later.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rig.kafka import RigError, free_port, require_tool, stop_process, tail

Sample = dict[str, Any]
"""One element of an instant-vector result: ``{"metric": {labels}, "value": [ts, "value"]}``."""


def rules_copy(source: Path, dest: Path, interval_s: float) -> Path:
    """Copy a rule file with every group's ``interval`` set to ``interval_s``."""
    body = yaml.safe_load(source.read_text())
    for group in body["groups"]:
        group["interval"] = f"{interval_s:g}s"
    dest.write_text(yaml.safe_dump(body, sort_keys=False))
    return dest


@dataclass
class Prometheus:
    """A Prometheus process; :meth:`start` it, add jobs with :meth:`scrape`, ask with :meth:`query`."""

    workdir: Path
    rule_files: list[Path] = field(default_factory=list)
    interval_s: float = 1.0
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    jobs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        rules = [
            str(rules_copy(path, self.workdir / f"rules-{i}-{path.name}", self.interval_s))
            for i, path in enumerate(self.rule_files)
        ]
        interval = f"{self.interval_s:g}s"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "rule_files": rules,
            "scrape_configs": [
                {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": targets}]}
                for job, targets in self.jobs.items()
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout_s: float = 30.0) -> Prometheus:
        binary = require_tool("prometheus", "`apt-get install prometheus` (scripts/setup.sh does)")
        self.port = self.port or free_port()
        config = self._write_config()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RigError(f"prometheus exited with {self.process.returncode}:\n{tail(self.log_path)}")
            try:
                self._get("/-/ready")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.stop()
        raise RigError(f"prometheus not ready after {timeout_s}s:\n{tail(self.log_path)}")

    def stop(self) -> None:
        stop_process(self.process)

    def scrape(self, job: str, targets: list[str], timeout_s: float = 15.0) -> None:
        """Scrape ``targets`` (``host:port``) as ``job`` from now on; the config is rewritten and reloaded.

        Returns once every target is in the scrape pool. Prometheus hands discovered targets to the scrape manager at
        most every 5 seconds, so a process started right after a reload would otherwise miss its first scrapes.
        """
        self.jobs[job] = targets
        self._write_config()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")  # noqa: S310 - loopback URL
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own loopback URL
            if answer.status != 200:
                raise RigError(f"prometheus reload answered {answer.status}:\n{tail(self.log_path)}")
        deadline = time.monotonic() + timeout_s
        while {t["labels"]["instance"] for t in self.targets() if t["labels"]["job"] == job} != set(targets):
            if time.monotonic() > deadline:
                raise RigError(f"targets {targets} of job {job} not active after {timeout_s}s:\n{tail(self.log_path)}")
            time.sleep(0.2)

    def _get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:  # noqa: S310
            body = answer.read()
        return json.loads(body) if path.startswith("/api/") else body

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a ``/api/v1/...`` answer; a RigError when Prometheus reports an error."""
        body = self._get(f"/api/v1/{path}", **params)
        if body.get("status") != "success":
            raise RigError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """Evaluate ``expr`` as an instant vector (now, or at unix time ``at``)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] != "vector":
            raise RigError(f"{expr!r} is a {data['resultType']}, not an instant vector")
        result: list[Sample] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return active

    def wait_for(self, expr: str, timeout_s: float = 30.0) -> list[Sample]:
        """Poll ``expr`` until it returns at least one sample."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(self.interval_s / 2)

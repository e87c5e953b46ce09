"""Running one process and measuring it: wall time, CPU seconds and peak RSS from the kernel (``wait4``).

Every tool, ours and the peers, runs as a child process measured the same way, from spawn to exit: start-up (the
JVM's, Python's imports) is part of what an operator waits for, so it is part of every figure. CPU seconds and peak
RSS include the child's own children (``wait4`` reports the reaped process tree).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Sample:
    """One measured process run."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)

    def check(self, what: str) -> Sample:
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{self.stdout[-2000:]}\n{self.stderr[-3000:]}")
        return self


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout_path: Path | None = None,
    stdin_path: Path | None = None,
    timeout_s: float = 1800.0,
) -> Sample:
    """Run ``cmd`` to completion and measure it. Output goes to ``stdout_path`` (else it is captured and returned)."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        out_path = stdout_path or Path(tmp) / "stdout"
        err_path = Path(tmp) / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            stdin: IO[bytes] | int = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
            try:
                started = time.monotonic()
                proc = subprocess.Popen(
                    list(cmd),
                    env=dict(env) if env is not None else None,
                    stdin=stdin,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
                timer = threading.Timer(timeout_s, _kill_group, (proc.pid,))
                timer.start()
                try:
                    _pid, status, usage = os.wait4(proc.pid, 0)
                finally:
                    timer.cancel()
                wall = time.monotonic() - started
                proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
            finally:
                if not isinstance(stdin, int):
                    stdin.close()
        stdout = "" if stdout_path else out_path.read_text(errors="replace")
        return Sample(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
            returncode=proc.returncode,
            stdout=stdout,
            stderr=err_path.read_text(errors="replace"),
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@dataclass(frozen=True)
class Spread:
    """Median and range of a figure over the rounds."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(values), min(values), max(values), len(values))

    @property
    def spread_pct(self) -> float:
        """Half the range relative to the median: the ± that covers every round."""
        return 100 * (self.high - self.low) / 2 / self.median if self.median else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n, "spread_pct": self.spread_pct}

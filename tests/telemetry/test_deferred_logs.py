"""Logging configured on the first record (``telemetry.deferred_logs``): the same lines, levels and warnings as
``configure_logging`` at start, and structlog imported only once something logs. Each case runs in a fresh
interpreter, since what is imported is the point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

SCRIPT = """
import json, logging, sys
from kafka_backup.telemetry.{module} import {function}
{function}()
before = "structlog" in sys.modules
logging.getLogger("kafka_backup.cli").info("quiet_info", extra={{"k": "v"}})
after_info = "structlog" in sys.modules
logging.getLogger("thirdparty").warning("plain %s line", "stdlib", extra={{"topic": "t2"}})
logging.getLogger("kafka_backup.cli").warning("second_warning")
{structlog_line}
print(json.dumps([before, after_info, "structlog" in sys.modules]))
"""

STRUCTLOG_LINE = """
from kafka_backup.telemetry.deferred_logs import ensure_logging
ensure_logging()
import structlog
structlog.get_logger("kafka_backup.engine").warning("via_structlog", n=1)
"""


def run(deferred: bool, env: dict[str, str], structlog_line: str = "") -> tuple[list[bool], list[str]]:
    """What the script printed (structlog loaded: before any record, after an info record, at the end) and its log
    lines with the timestamps blanked."""
    module, function = (
        ("deferred_logs", "configure_logging_on_first_record") if deferred else ("logs", "configure_logging")
    )
    code = SCRIPT.format(module=module, function=function, structlog_line=structlog_line)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_BACKUP_LOG")} | env
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=environ
    )
    lines = [re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "T", line) for line in done.stderr.splitlines()]
    return json.loads(done.stdout), lines


@pytest.mark.parametrize(
    "env",
    [{}, {"KAFKA_BACKUP_LOG_FORMAT": "json"}, {"KAFKA_BACKUP_LOG_LEVEL": "warning,thirdparty=error"}],
    ids=["text", "json", "levels"],
)
def test_same_lines_as_configuring_at_start(env: dict[str, str]) -> None:
    """The deferred pipeline prints what the eager one prints, record for record (levels applied the same)."""
    loaded, deferred = run(True, env)
    _, eager = run(False, env)
    assert deferred == eager
    assert any("second_warning" in line for line in deferred)
    quiet = "KAFKA_BACKUP_LOG_LEVEL" in env
    # nothing imported until a record passes the levels (an info record under "warning" does not)
    assert loaded == [False, not quiet, True]


def test_structlog_after_ensure_logging() -> None:
    """A structlog call after ``ensure_logging`` goes through the same pipeline as with eager configuration."""
    _, deferred = run(True, {"KAFKA_BACKUP_LOG_FORMAT": "json"}, STRUCTLOG_LINE)
    _, eager = run(False, {"KAFKA_BACKUP_LOG_FORMAT": "json"}, STRUCTLOG_LINE)
    assert deferred == eager
    assert json.loads(deferred[-1])["event"] == "via_structlog"


def test_bad_setting_is_warned_at_once() -> None:
    """A setting ``configure_logging`` cannot use is warned about at start, as before: no deferral then."""
    loaded, deferred = run(True, {"KAFKA_BACKUP_LOG_LEVEL": "loud"})
    _, eager = run(False, {"KAFKA_BACKUP_LOG_LEVEL": "loud"})
    assert deferred == eager
    assert "log_setting_ignored" in deferred[0]
    assert loaded[0] is True

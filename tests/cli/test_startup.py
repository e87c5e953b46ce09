"""Start-up of ``kafka-backup``: what ``--help`` and ``--version`` import, and the lazy group's summaries."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import click
import pytest

from kafka_backup.cli.main import COMMANDS, cli
from kafka_backup.cli.version import VERSION

HEAVY = ("pyarrow", "confluent_kafka", "pydantic", "opentelemetry", "fsspec", "structlog")
"""Libraries a command may need but start-up must not load."""

PROBE = """
import json, sys
from kafka_backup.cli.entry import main
sys.argv = ["kafka-backup", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_loaded_by(*args: str) -> tuple[str, list[str]]:
    """Run ``kafka-backup ARGS`` in a fresh interpreter; its stdout and the modules it had imported at exit."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


class TestStartup:
    @pytest.mark.parametrize("flag", ["--help", "--version"])
    def test_loads_no_heavy_library(self, flag: str) -> None:
        """--help and --version import none of the engine's libraries, nor the engine or the telemetry code."""
        stdout, modules = modules_loaded_by(flag)
        assert stdout
        heavy = [m for m in modules if m.split(".")[0] in HEAVY]
        assert heavy == []
        ours = [m for m in modules if m.startswith("kafka_backup.")]
        if flag == "--version":  # answered before click is imported
            assert ours == ["kafka_backup.cli", "kafka_backup.cli.entry", "kafka_backup.cli.version"]
            assert "click" not in modules
        else:
            assert ours == [
                "kafka_backup.cli",
                "kafka_backup.cli.entry",
                "kafka_backup.cli.error_line",
                "kafka_backup.cli.main",
                "kafka_backup.cli.version",
            ]

    def test_help_lists_every_command(self) -> None:
        """The group's help lists every command with its summary, without importing the commands."""
        stdout, _ = modules_loaded_by("--help")
        for name in COMMANDS:
            assert f"  {name} " in stdout

    def test_version_is_the_distribution_version(self) -> None:
        """The version spelled in main.py is the installed distribution's."""
        assert importlib.metadata.version("kafka-backup") == VERSION
        stdout, _ = modules_loaded_by("--version")
        assert stdout.strip() == f"kafka-backup, version {VERSION}"


class TestLazySummaries:
    @pytest.mark.parametrize("name", sorted(COMMANDS))
    def test_summary_is_the_commands_own(self, name: str) -> None:
        """Each summary listed before import is what the imported command itself would show, at any width."""
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        for limit in (30, 45, 60, 200):
            stand_in = click.Command(name, help=COMMANDS[name].summary)
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit)

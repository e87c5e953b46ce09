"""Start-up of ``kafka-backup``: what ``--help`` and ``--version`` import, and the lazy group's summaries."""

from __future__ import annotations

import gc
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from engine.backup_helpers import backup_config
from kafka_backup.cli import help_doc
from kafka_backup.cli.main import COMMANDS, cli
from kafka_backup.cli.version import VERSION
from kafka_backup.engine.testing import DataSet, fill
from kafka_backup.telemetry._version import PACKAGE_VERSION
from rig.kafka import KafkaEndpoint

HEAVY = ("pyarrow", "confluent_kafka", "pydantic", "opentelemetry", "fsspec", "structlog")
"""Libraries a command may need but start-up must not load."""

PROBE = """
import json, sys
from kafka_backup.cli.{module} import main
sys.argv = ["kafka-backup", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_loaded_by(*args: str, env: dict[str, str] | None = None, via_click: bool = False) -> tuple[str, list[str]]:
    """Run ``kafka-backup ARGS`` in a fresh interpreter (through the console script's entry point, or straight into
    click's group with ``via_click``); its stdout and the modules it had imported at exit. A ``--`` in ARGS is
    dropped (it only keeps pytest ids apart)."""
    argv = [a for a in args if a != "--"]
    code = PROBE.replace("{module}", "main" if via_click else "entry")
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | (env or {})
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=environ,
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
        # both are answered before click is imported (the help from its generated copy)
        answer = ["kafka_backup.cli.group_help"] if flag == "--help" else []
        assert ours == sorted(["kafka_backup.cli", "kafka_backup.cli.entry", "kafka_backup.cli.version", *answer])
        assert "click" not in modules

    @pytest.mark.parametrize("flag", ["--help", "-h"])
    def test_fast_help_is_clicks_help(self, flag: str) -> None:
        """What the entry point prints for --help is what click itself prints at full width (80 columns), and a
        narrower terminal gets click's own formatting."""
        fast, _ = modules_loaded_by(flag)
        wide, modules = modules_loaded_by(flag, "--", env={"COLUMNS": "80"}, via_click=True)
        assert "click" in modules
        assert fast == wide
        narrow, modules = modules_loaded_by(flag, env={"COLUMNS": "60"})
        assert "click" in modules
        assert narrow != fast and "Usage: kafka-backup" in narrow

    def test_group_help_module_is_current(self) -> None:
        """The generated copy of the help is what the generator makes from the commands now."""
        path = Path(help_doc.__file__).with_name("group_help.py")
        assert path.read_text() == help_doc.group_module(), (
            "regenerate: uv run python -m kafka_backup.cli.help_doc --group-module > " + str(path)
        )

    def test_help_lists_every_command(self) -> None:
        """The group's help lists every command with its summary, without importing the commands."""
        stdout, _ = modules_loaded_by("--help")
        for name in COMMANDS:
            assert f"  {name} " in stdout

    def test_version_is_the_distribution_version(self) -> None:
        """The versions spelled in cli/version.py and telemetry/_version.py are the installed distributions'."""
        assert importlib.metadata.version("kafka-backup") == VERSION
        assert importlib.metadata.version("kafka-backup-telemetry") == PACKAGE_VERSION
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


class TestCommandImports:
    def test_local_list_loads_no_fsspec_yaml_or_otel(self, tmp_path: Path) -> None:
        """``list`` of a local store opens it without fsspec, reads no YAML and declares no metrics."""
        stdout, modules = modules_loaded_by("list", "--storage-url", f"file://{tmp_path}")
        assert stdout.strip() == f"no backups at file://{tmp_path}"
        loaded = {m.split(".")[0] for m in modules}
        assert loaded.isdisjoint({"fsspec", "yaml", "pyarrow", "confluent_kafka"})
        assert "opentelemetry.metrics" not in modules

    @pytest.mark.parametrize("url", ["file://{root}", "{root}"])
    def test_local_catalog_loads_no_pydantic(self, tmp_path: Path, url: str) -> None:
        """``list`` and ``describe`` of a local store named on the command line build no pydantic model (a third of
        their start-up): the URL is checked as the storage section's model checks it. A URL the checks refuse is
        reported by the model, naming the flag."""
        storage_url = url.format(root=tmp_path)
        stdout, modules = modules_loaded_by("list", "--storage-url", storage_url)
        assert stdout.strip() == f"no backups at {storage_url}"
        assert [m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core")] == []
        _, modules = modules_loaded_by("describe", "--storage-url", storage_url, "--backup-id", "b1")
        assert [m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core")] == []
        _, modules = modules_loaded_by("list", "--storage-url", f"file://user:secret@{tmp_path}")
        assert "pydantic" in modules

    def test_backup_loads_no_compute_kernels(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A one-shot backup never imports ``pyarrow.compute`` (a third of pyarrow's import time): payload bytes come
        from the columns' offsets, the timestamp range from the segment's own statistics."""
        data = DataSet(topic_name, 1, 10, 100)
        fill(kafka.bootstrap, data)
        config = tmp_path / "backup.yaml"
        config.write_text(
            json.dumps(backup_config(kafka.bootstrap, "startup", tmp_path / "store", [topic_name])), encoding="utf-8"
        )
        stdout, modules = modules_loaded_by("backup", "--config", str(config), "--no-progress")
        assert "Records: 10\n" in stdout
        assert "pyarrow.parquet" in modules
        assert [m for m in modules if m.startswith("pyarrow.compute")] == []

    def test_quiet_backup_asks_no_client_statistics(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """A backup nobody observes (no metrics endpoint, file or OTLP) asks librdkafka for no statistics, so its
        shutdown does not wait up to a statistics interval for a last report; one with a metrics file does."""
        fill(kafka.bootstrap, DataSet(topic_name, 1, 10, 100))
        config = tmp_path / "backup.yaml"
        for backup_id, extra in (("quiet", []), ("observed", ["--metrics-output", str(tmp_path / "m.json")])):
            body = backup_config(kafka.bootstrap, backup_id, tmp_path / "store", [topic_name])
            config.write_text(json.dumps(body), encoding="utf-8")
            stdout, modules = modules_loaded_by("backup", "--config", str(config), "--no-progress", *extra)
            assert "Records: 10\n" in stdout
            assert ("kafka_backup.telemetry.client_stats" in modules) == bool(extra)

    def test_local_catalog_loads_no_structlog(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """``list`` and ``describe`` log nothing on their normal run, so they configure logging on its first record
        (main.LOGGING_ON_FIRST_RECORD): structlog, asyncio and OpenTelemetry are not imported, also when they read
        a real backup or report an expected error."""
        fill(kafka.bootstrap, DataSet(topic_name, 1, 10, 100))
        config = tmp_path / "backup.yaml"
        body = backup_config(kafka.bootstrap, "b1", tmp_path / "store", [topic_name])
        config.write_text(json.dumps(body), encoding="utf-8")
        modules_loaded_by("backup", "--config", str(config), "--no-progress")
        url = f"file://{tmp_path / 'store'}"
        for args, expect in (
            (["list", "--storage-url", url], "b1 "),
            (["describe", "--storage-url", url, "--backup-id", "b1"], "Backup b1 (complete)"),
            (["describe", "--storage-url", url, "--backup-id", "b2", "--json"], "BACKUP_NOT_FOUND"),
        ):
            stdout, modules = modules_loaded_by(*args)
            assert expect in stdout
            assert [m for m in modules if m.split(".")[0] in ("structlog", "asyncio", "opentelemetry")] == []


FREEZE_PROBE = """
import gc, sys
from kafka_backup.cli.{module} import main
sys.argv = ["kafka-backup", "list", "--storage-url", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
print(gc.get_freeze_count())
"""


class TestFrozenHeap:
    def test_console_script_freezes_its_heap(self, tmp_path: Path) -> None:
        """The console script freezes the heap (``gc.freeze``) once its command is imported and when it returns,
        so no collection traverses the modules again; a caller of the click group (a test, a library) is left
        alone."""
        for module in ("entry", "main"):
            code = FREEZE_PROBE.replace("{module}", module)
            done = subprocess.run(
                [sys.executable, "-c", code, f"file://{tmp_path}"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            assert done.stdout.splitlines()[0] == f"no backups at file://{tmp_path}"
            assert int(done.stdout.splitlines()[-1]) > 10_000  # objects in the permanent generation
        before = gc.get_freeze_count()
        result = CliRunner().invoke(cli, ["list", "--storage-url", f"file://{tmp_path}"])
        assert result.exit_code == 0, result.output
        assert gc.get_freeze_count() == before

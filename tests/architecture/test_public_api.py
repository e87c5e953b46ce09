"""The engine's deliberate public surface, and the CLI using only package faces."""

from __future__ import annotations

import ast
from pathlib import Path

from architecture.imports import PACKAGES
from kafka_backup import engine
from kafka_backup.engine import testing

FACES = ("kafka_backup.engine", "kafka_backup.telemetry")
"""Packages whose ``__init__`` is the API other distributions use; their submodules are internal."""
PUBLIC_SUBPACKAGES = {"kafka_backup.engine.store", "kafka_backup.engine.testing"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``import`` and ``from … import`` in the file, TYPE_CHECKING blocks included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


class TestEngineApi:
    def test_all_is_the_map_of_lazy_names(self) -> None:
        """__all__ and the lazy map name the same things, so nothing is exported by one and not the other."""
        assert sorted(engine.__all__) == sorted(engine._MODULE_OF)

    def test_every_exported_name_resolves(self) -> None:
        for module in (engine, testing):
            for name in module.__all__:
                assert getattr(module, name) is not None, f"{module.__name__}.{name}"

    def test_the_surface_covers_running_and_verifying_a_backup(self) -> None:
        """What a library user needs to back up, restore, check and drill without reaching into submodules."""
        needed = {
            "BackupConfig", "load_config", "run_backup", "BackupRun", "BackupSummary", "RestoreConfig",
            "RestoreRun", "validate_backup", "describe_backup", "list_backups", "DrillRun", "open_store", "Store",
            "BackupError", "ConfigError", "StorageError",
        }  # fmt: skip
        assert needed <= set(engine.__all__), needed - set(engine.__all__)


class TestCliUsesFaces:
    def test_cli_imports_no_engine_or_telemetry_submodule(self) -> None:
        """The CLI imports ``kafka_backup.engine`` and ``kafka_backup.telemetry`` (and the public subpackages), never
        their internals: the engine's layout can change without touching the CLI."""
        offenders = []
        for path in sorted((PACKAGES / "cli").rglob("*.py")):
            for line, module in _imported_modules(path):
                internal = any(module.startswith(face + ".") for face in FACES)
                if internal and module not in PUBLIC_SUBPACKAGES:
                    offenders.append(f"{path.name}:{line} {module}")
        assert offenders == []

    def test_the_check_sees_a_submodule_import(self, tmp_path: Path) -> None:
        """The scan itself: a deferred submodule import inside a function is found."""
        sample = tmp_path / "sample.py"
        sample.write_text("def f():\n    from kafka_backup.engine.backup.run import BackupRun\n")
        assert _imported_modules(sample) == [(2, "kafka_backup.engine.backup.run")]

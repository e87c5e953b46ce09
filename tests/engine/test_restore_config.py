"""The restore configuration's time window: the key as users write it (`from`) and every form of time it accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_backup.engine.config.base import load_config, parse_config
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import ConfigError

MINIMAL = {"backup_id": "b", "target": {"bootstrap_servers": "k:9092"}}
NOV_1 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()) * 1000


def window_from_yaml(tmp_path: Path, line: str) -> tuple[int | None, int | None]:
    """(from, to) in ms after loading ``line`` as the time_window of a restore.yaml, as the CLI loads it."""
    path = tmp_path / "restore.yaml"
    path.write_text(f"backup_id: b\ntarget: {{bootstrap_servers: 'k:9092'}}\ntime_window: {line}\n")
    window = load_config(RestoreConfig, path).time_window
    return window.from_, window.to


class TestTimeWindow:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("{from: 1793491200000}", NOV_1),
            ("{from: '1793491200000'}", NOV_1),
            ('{from: "2026-11-01T00:00:00.000Z"}', NOV_1),
            ("{from: 2026-11-01T00:00:00.000Z}", NOV_1),
            ('{from: "2026-11-01T01:00:00+01:00"}', NOV_1),
            ('{from: "2026-11-01T00:00:00"}', NOV_1),
            ("{from: 2026-11-01 00:00:00}", NOV_1),
            ('{from: "2026-11-01"}', NOV_1),
            ("{from: 2026-11-01}", NOV_1),
        ],
        ids=[
            "epoch-ms",
            "epoch-ms-string",
            "iso-quoted",
            "iso-unquoted",
            "iso-offset",
            "iso-no-offset-is-utc",
            "yaml-datetime-no-offset",
            "date-quoted",
            "date-unquoted",
        ],
    )
    def test_from_accepts_epoch_ms_and_iso(self, tmp_path: Path, line: str, expected: int) -> None:
        """`time_window.from` takes epoch ms or ISO-8601, quoted or not; without an offset the time is UTC."""
        assert window_from_yaml(tmp_path, line) == (expected, None)

    def test_to_is_written_like_from(self, tmp_path: Path) -> None:
        """`to` accepts the same forms, and both ends are inclusive milliseconds."""
        assert window_from_yaml(tmp_path, '{from: "2026-11-01T00:00:00.001Z", to: 2026-11-01T00:00:00.002Z}') == (
            NOV_1 + 1,
            NOV_1 + 2,
        )

    def test_from_after_to_is_refused(self) -> None:
        """A window that ends before it starts is a config error naming both keys as users write them."""
        data = {**MINIMAL, "time_window": {"from": "2026-11-02", "to": "2026-11-01"}}
        with pytest.raises(ConfigError, match=r"time_window\.from .* is after time_window\.to"):
            parse_config(RestoreConfig, data)

    def test_not_a_time_is_refused_with_a_hint(self) -> None:
        """Anything else fails as a config error that shows both accepted forms."""
        with pytest.raises(ConfigError, match="neither epoch milliseconds nor an ISO-8601 time") as info:
            parse_config(RestoreConfig, {**MINIMAL, "time_window": {"from": "last tuesday"}})
        assert "2026-01-01T00:00:00Z" in str(info.value.hint)

"""Tests of the redaction processor on its own."""

from __future__ import annotations

from kafka_backup.telemetry.redact import REDACTED, Redactor


class TestRedactor:
    def test_secret_keys(self) -> None:
        """Values under password, token, authorization and *key* keys are masked; others are kept."""
        event = Redactor()(
            None,
            "info",
            {"password": "a", "Authorization": "Bearer x", "ssl.key.pem": "k", "api_key": "k", "topic": "orders"},
        )
        assert event == {
            "password": REDACTED,
            "Authorization": REDACTED,
            "ssl.key.pem": REDACTED,
            "api_key": REDACTED,
            "topic": "orders",
        }

    def test_nested_structures(self) -> None:
        """Dicts and lists inside the event are walked."""
        event = Redactor()(None, "info", {"config": {"sasl.password": "p", "items": ["token=abc", "ok"]}})
        assert event == {"config": {"sasl.password": REDACTED, "items": [f"token={REDACTED}", "ok"]}}

    def test_inline_pairs(self) -> None:
        """name=value and 'Authorization: Bearer x' pairs inside strings are masked, other pairs kept."""
        text = Redactor().redact_text("sasl.password=hunter2 acks=all Authorization: Bearer abc.def, ok")
        assert text == f"sasl.password={REDACTED} acks=all Authorization: {REDACTED}, ok"

    def test_registered_values_anywhere(self) -> None:
        """A registered value is masked wherever it appears; very short values are ignored."""
        redactor = Redactor(["correct-horse", "ab"])
        assert redactor.redact_text("x correct-horse y ab") == f"x {REDACTED} y ab"

    def test_long_input_is_linear(self) -> None:
        """A long token without separators does not backtrack catastrophically."""
        assert Redactor().redact_text("k" * 200_000) == "k" * 200_000

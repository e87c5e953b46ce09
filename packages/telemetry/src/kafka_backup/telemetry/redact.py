"""Removes secrets from log events before any output (console, JSON, OTLP) sees them.

Three rules, applied to every event (nested dicts, lists and exception text included):

1. A value whose key looks secret is replaced: ``password``, ``passwd``, ``secret``, ``token``, ``authorization``,
   ``credential(s)``, ``sasl.password``, and any key containing ``key`` (``ssl.key.pem``, ``access_key``, ``api_key``).
2. ``name=value`` / ``name: value`` pairs with such a name inside strings are masked (librdkafka and exception
   messages quote configuration that way).
3. Registered secret values (the configured SASL password, storage keys, OTLP headers) are masked wherever they
   appear in any string, whatever the key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["REDACTED", "Redactor", "default_redactor", "register_secret"]

REDACTED = "[REDACTED]"
# Shorter registered values would mask ordinary words all over the logs; real secrets are longer.
_MIN_SECRET_LENGTH = 4
# Searched, not matched against nested wildcards: linear time on long tokens.
_SECRET_WORD = re.compile(r"password|passwd|pwd|secret|token|authorization|credential|key", re.IGNORECASE)
# name=value or name: value, where value runs to whitespace, comma, semicolon, quote or bracket; "Bearer x" counts.
_PAIR = re.compile(
    r"(?<![\w.\-])(?P<name>[\w.\-]+)(?P<sep>\s*[=:]\s*)(?P<value>(?:(?:bearer|basic)\s+)?[^\s,;'\"\]\)}]+)",
    re.IGNORECASE,
)


def _mask_pair(match: re.Match[str]) -> str:
    if _SECRET_WORD.search(match["name"]):
        return f"{match['name']}{match['sep']}{REDACTED}"
    return match[0]


class Redactor:
    """A structlog processor ``(logger, method, event_dict) -> event_dict`` that masks secrets (see module doc).

    Thread-safe: ``add`` may be called while other threads log; the compiled pattern is swapped atomically.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask ``secret`` wherever it appears from now on (values shorter than 4 characters are ignored)."""
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._secrets.add(secret)
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, _logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._value(key, event_dict[key])
        return event_dict

    def redact_text(self, text: str) -> str:
        """``text`` with inline secret pairs and registered secrets masked."""
        text = _PAIR.sub(_mask_pair, text)
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return text

    def _value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and _SECRET_WORD.search(key) and value is not None:
            return REDACTED
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._value(None, v) for v in value)
        return value


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor ``configure_logging`` uses unless given another."""
    return _DEFAULT


def register_secret(secret: str) -> None:
    """Mask ``secret`` in every log output of this process (e.g. the SASL password the engine just read)."""
    _DEFAULT.add(secret)

"""Removes secrets from log events before any output (console, JSON, OTLP) sees them.

Four rules, applied to every event (nested dicts, lists and exception text included), whichever logger it came from
(ours, botocore, s3fs, gcsfs, adlfs, aiohttp, urllib3, librdkafka) and at every level:

1. A value whose key looks secret is replaced: ``password``, ``passwd``, ``secret``, ``token``, ``authorization``,
   ``credential(s)``, ``signature``, ``sig``, ``sasl.password``, and any key containing ``key`` (``ssl.key.pem``,
   ``access_key``, ``api_key``).
2. ``name=value`` / ``name: value`` pairs with such a name inside strings are masked, the name and the value
   optionally quoted (``'X-Amz-Security-Token': b'...'`` in botocore's header dumps, ``X-Amz-Signature=...`` and
   Azure's ``sig=...`` in query strings, ``Authorization: AWS4-HMAC-SHA256 ...``/``SharedKey ...``/``Bearer ...``).
3. Credentials in URLs (``s3://key:secret@bucket``, ``https://user:pass@host``) are masked.
4. Registered secret values (the configured SASL password, storage keys and tokens from the configuration or the
   environment, OTLP headers) are masked wherever they appear in any string, whatever the key, also URL-encoded.

Every pattern is linear in the length of its input (no nested quantifiers; a quoted value without its closing quote
runs to the end of the text rather than being retried), so a hostile or huge log line cannot stall logging.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote as percent_encode

__all__ = ["REDACTED", "Redactor", "default_redactor", "register_secret"]

REDACTED = "[REDACTED]"
# Shorter registered values would mask ordinary words all over the logs; real secrets are longer.
_MIN_SECRET_LENGTH = 4
# Searched, not matched against nested wildcards: linear time on long tokens.
_SECRET_WORD = re.compile(
    r"password|passwd|pwd|secret|token|authorization|credential|signature|key|^sig$", re.IGNORECASE
)
# name=value or name: value. The name may be quoted ('X-Amz-Security-Token': ...); a quoted value (b'...' too) runs
# to its closing quote (or the end of the text), a bare one to whitespace, comma, semicolon, ampersand, quote or
# bracket; an HTTP authorization scheme word (Bearer, Basic, AWS4-HMAC-SHA256, SharedKey) belongs to the value.
_PAIR = re.compile(
    r"""(?<![\w.\-])(?P<q>['"]?)(?P<name>[\w.\-]+)(?P=q)(?P<sep>\s*[=:]\s*)"""
    r"""(?P<value>b?'[^']*'?|b?"[^"]*"?|(?:(?:bearer|basic|aws4-hmac-sha256|sharedkey)\s+)?[^\s,;&'"\]\)}>]+)""",
    re.IGNORECASE,
)
# scheme://user:password@ -- the scheme must start at a word boundary, so a long run of letters is scanned once.
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.\-])(?P<scheme>[a-z][a-z0-9+.\-]*://)[^/\s@:'\"]*:[^/\s@'\"]*@", re.IGNORECASE
)
# S3 API parameters that contain "key" but name objects, not credentials (botocore and s3fs log them at debug);
# case-sensitive, so s3fs's own lower-case ``key`` option (the access key id) is still masked.
_NOT_SECRET_NAMES = frozenset({"Key", "Keys", "KeyMarker", "NextKeyMarker", "KeyCount", "MaxKeys", "StartAfter"})


def _secret_name(name: str) -> bool:
    return name not in _NOT_SECRET_NAMES and _SECRET_WORD.search(name) is not None


def _mask_pair(match: re.Match[str]) -> str:
    if not _secret_name(match["name"]):
        return match[0]
    value = match["value"]
    # keep the quotes, so a masked dict repr still reads as one
    opening = value[:2] if value[:2] in ("b'", 'b"') else value[:1] if value[:1] in ("'", '"') else ""
    closing = opening[-1:] if opening and len(value) > len(opening) and value.endswith(opening[-1]) else ""
    return f"{match['q']}{match['name']}{match['q']}{match['sep']}{opening}{REDACTED}{closing}"


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
            # query strings and form bodies carry the value percent-encoded (session tokens hold '/', '+', '=')
            self._secrets.add(percent_encode(secret, safe=""))
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, _logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._value(key, event_dict[key])
        return event_dict

    def redact_text(self, text: str) -> str:
        """``text`` with inline secret pairs and registered secrets masked."""
        # URLs first: in s3://key:secret@bucket the pair rule would otherwise see "key: secret@bucket"
        text = _URL_CREDENTIALS.sub(rf"\g<scheme>{REDACTED}@", text)
        text = _PAIR.sub(_mask_pair, text)
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return text

    def _value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and _secret_name(key) and value is not None:
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

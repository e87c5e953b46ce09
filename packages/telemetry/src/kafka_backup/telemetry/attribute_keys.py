"""Series keys built from shared parts: the OpenTelemetry SDK's aggregation key, minus the per-series copies.

The SDK (1.45, ``opentelemetry.sdk.metrics._internal._view_instrument_match._hash_attributes``) keys each series of
an instrument by a type-tagged tuple it builds afresh for the series::

    ("mapping", (("backup_id", ("str", "daily")), ("partition", ("str", "3")), ("topic", ("str", "orders"))))

so every label of every series holds its own ``(label, tagged value)`` pair, its own ``("str", value)`` tuple and its
own copy of the word ``"str"`` (``type(value).__name__`` allocates a new string for built-in types): about 490 of the
1,460 bytes a three-label series costs. Label values repeat across series (one ``backup_id``, a few topics, the same
partition numbers under every topic), so ``share_attribute_keys()`` gives the SDK a function that returns an *equal*
key whose pairs come from a small cache, one pair per distinct label value rather than one per series.

Equal keys select exactly the same aggregation (the SDK only hashes and compares them), so nothing exported changes.
Only string values take the cached path; any other shape is handed to the SDK's own function. This replaces a private
SDK function, so it guards itself: it is installed only when it agrees with the SDK's function on probes covering
every branch, and the SDK version is pinned in ``packages/telemetry/pyproject.toml``. An SDK that changed the key
keeps its own function and only the memory saving is lost; ``tests/telemetry/test_attribute_keys.py`` fails then, so
an upgrade notices. The cache is cleared when it reaches ``MAX_SHARED_VALUES`` pairs, so label values of series that
are gone cannot accumulate; clearing only stops sharing for keys built before it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_SHARED_VALUES", "share_attribute_keys", "shared_key_function"]

MAX_SHARED_VALUES = 10_000
"""Most cached (label, value) pairs; beyond it the cache starts over."""

_log = logging.getLogger("kafka_backup.telemetry")
_LOCK = threading.Lock()
# The SDK function replaced, in opentelemetry.sdk.metrics._internal._view_instrument_match.
_FUNCTION = "_hash_attributes"
_SHARING = "_kafka_backup_shared_keys"  # marks the installed function, so installing twice is a no-op

_HashAttributes = Callable[[Any], Any]
_Pair = tuple[str, tuple[str, str]]

# Every branch of the SDK's function, and the cached path with hits and misses; all must give equal keys.
_PROBES: tuple[Any, ...] = (
    {},
    {"k": "v"},
    {"k": "v"},
    {"topic": "orders", "backup_id": "daily", "partition": "3"},
    {"partition": "3", "topic": "orders", "backup_id": "daily"},
    {"a": ""},
    {"k": True},
    {"k": 1},
    {"k": 1.0},
    {"k": None},
    {"k": b"v"},
    {"k": ["a", "b"]},
    {"k": ("a", 1)},
    {"k": {"n": "v"}},
    {"k": "v", "n": 1},
    {1: "v"},
    {"otel.metric.overflow": True},
    "v",
    [("k", "v")],
)


def shared_key_function(original: _HashAttributes) -> _HashAttributes:
    """``original`` (the SDK's key function) with string-valued attribute dicts keyed from cached pairs."""
    pairs: dict[str, dict[str, _Pair]] = {}
    cached = 0

    def hash_attributes(value: Any) -> Any:
        nonlocal cached
        # The SDK always passes a dict; labels are strings. Anything else is the SDK's to key.
        if type(value) is not dict or not all(type(label) is str for label in value):
            return original(value)
        parts = []
        for label in sorted(value):
            item = value[label]
            if type(item) is not str:
                return original(value)
            by_value = pairs.get(label)
            pair = None if by_value is None else by_value.get(item)
            if pair is None:
                if cached >= MAX_SHARED_VALUES:
                    pairs.clear()
                    cached = 0
                pair = pairs.setdefault(label, {}).setdefault(item, (label, ("str", item)))
                cached += 1
            parts.append(pair)
        return ("mapping", tuple(parts))

    functools.update_wrapper(hash_attributes, original)  # keeps the SDK's name, and ``__wrapped__`` for tests
    setattr(hash_attributes, _SHARING, True)
    return hash_attributes


def share_attribute_keys() -> bool:
    """Make the SDK build series keys from shared parts (once per process); True when it does."""
    try:  # imported here: a private module the SDK may move, which must not break importing the telemetry package
        from opentelemetry.sdk.metrics._internal import _view_instrument_match as sdk  # noqa: PLC0415
    except ImportError:
        return _refuse("module not found")
    with _LOCK:
        original = getattr(sdk, _FUNCTION, None)
        if original is None or not callable(original):
            return _refuse(f"{_FUNCTION} not found")
        if getattr(original, _SHARING, False):
            return True
        shared = shared_key_function(original)
        for probe in _PROBES:
            try:
                agrees = shared(probe) == original(probe)
            except Exception:  # an SDK whose function rejects a probe has changed shape
                agrees = False
            if not agrees:
                return _refuse(f"key differs for {probe!r}")
        setattr(sdk, _FUNCTION, shared)
        return True


def _refuse(reason: str) -> bool:
    _log.debug("metric_keys_not_shared", extra={"reason": reason, "effect": "the SDK's own keys (more memory)"})
    return False

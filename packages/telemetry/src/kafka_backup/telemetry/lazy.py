"""Lazy re-exports for a package ``__init__`` (PEP 562): a public name is imported from its submodule on first use.

Shared by the telemetry and engine packages, whose submodules pull in the OpenTelemetry SDK, pyarrow, pydantic or
confluent_kafka: a command that needs one name (or ``--help``, which needs none) does not pay for the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, module_of: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, resolving each name of ``module_of`` (public name ->
    submodule) from ``package.<submodule>``; a resolved name is cached in the package's globals, so later lookups
    are plain attribute reads."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__

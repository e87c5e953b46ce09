"""Just enough PromQL reading to know which metrics and labels an expression uses.

Not a parser: it tokenizes (strings, range/subquery brackets and durations removed), then classifies identifiers. An
identifier followed by ``(`` is a function or an aggregation; after ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right`` the parenthesised identifiers are label names; inside ``{...}`` identifiers before a
matcher operator are label names; any other identifier that is not a keyword is a metric (or recorded series) name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<range>\[[^\]]*\])
      |(?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?)(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<space>\s+)
      |(?P<other>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},|$])
    """,
    re.VERBOSE,
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                 "quantile"}  # fmt: skip
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN"}
_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass
class Usage:
    """Metric names (with the label names their matchers use) and grouping label names of one expression."""

    metrics: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    # Grafana's $__rate_interval etc. only appear inside ranges, which are dropped; $var inside strings likewise.
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot tokenize {expr[pos:]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "range", "string"):
            out.append((kind, match.group()))
        pos = match.end()
    return out


def usage(expr: str) -> Usage:
    """What ``expr`` reads."""
    found = Usage()
    tokens = _tokens(expr)
    i = 0
    last_metric: str | None = None
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _GROUPING:
            i += 1
            if following == "(":
                while tokens[i][1] != ")":
                    if tokens[i][0] == "ident":
                        found.grouping.add(tokens[i][1])
                    i += 1
        elif text == "{":
            target = found.metrics.setdefault(last_metric, set()) if last_metric else set()
            while tokens[i][1] != "}":
                if tokens[i][0] == "ident" and i + 1 < len(tokens) and tokens[i + 1][1] in ("=", "!=", "=~", "!~"):
                    target.add(tokens[i][1])
                i += 1
            last_metric = None
        elif kind == "ident" and (following == "(" or (text in _AGGREGATIONS and following in _GROUPING)):
            last_metric = None  # a function or aggregation
        elif kind == "ident" and text not in _KEYWORDS:
            found.metrics.setdefault(text, set())
            last_metric = text
        else:
            last_metric = None
        i += 1
    return found


def label_values_query(query: str) -> tuple[str, str]:
    """``(metric, label)`` of a Grafana ``label_values(metric, label)`` variable query."""
    match = re.fullmatch(
        r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query
    )
    if match is None:
        raise ValueError(f"not a label_values(metric, label) query: {query!r}")
    return match.group(1), match.group(2)


def family_name(metric: str, histograms: set[str]) -> str:
    """The catalog family a series name belongs to (histogram series carry a suffix)."""
    for suffix in _SUFFIXES:
        base = metric.removesuffix(suffix)
        if base != metric and base in histograms:
            return base
    return metric


def legend_labels(legend: str) -> set[str]:
    """Label names a Grafana legend format interpolates (``{{topic}}-{{partition}}``)."""
    return set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend))

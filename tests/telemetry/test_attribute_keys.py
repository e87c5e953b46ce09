"""Tests of the shared series keys handed to the OpenTelemetry SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal import _view_instrument_match as sdk
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from kafka_backup.telemetry import attribute_keys
from kafka_backup.telemetry.attribute_keys import share_attribute_keys, shared_key_function

FUNCTION = "_hash_attributes"
KEYED: tuple[object, ...] = (
    {},
    {"backup_id": "daily", "topic": "orders", "partition": "3"},
    {"partition": "3", "backup_id": "daily", "topic": "orders"},
    {"k": ""},
    {"k": "1"},
    {"k": 1},
    {"k": True},
    {"k": 1.0},
    {"k": None},
    {"k": b"1"},
    {"k": ["1", "2"]},
    {"k": {"n": "1"}},
    {"k": "1", "n": 2},
    {2: "1"},
    "1",
    [("k", "1")],
)


def sdk_function() -> Callable[[Any], Any]:
    """The SDK's own key function, whether or not the shared one is installed."""
    installed: Callable[[Any], Any] = getattr(sdk, FUNCTION)
    original: Callable[[Any], Any] = getattr(installed, "__wrapped__", installed)
    return original


@pytest.fixture
def shared() -> Callable[[Any], Any]:
    """A fresh shared key function (its own, empty cache) over the SDK's function."""
    return shared_key_function(sdk_function())


class TestSharedKeyFunction:
    @pytest.mark.parametrize("attributes", KEYED)
    def test_keys_equal_the_sdks(self, shared: Callable[[Any], Any], attributes: object) -> None:
        """Every shape of attributes gets the key the SDK itself builds, on a cache miss and on a hit."""
        assert shared(attributes) == sdk_function()(attributes)
        assert shared(attributes) == sdk_function()(attributes)

    def test_label_values_share_one_pair(self, shared: Callable[[Any], Any]) -> None:
        """Two series with a label value in common hold the same pair object; the SDK's own keys hold two."""
        first = shared({"topic": "orders", "partition": "1"})
        second = shared({"topic": "orders", "partition": "2"})
        assert first[1][1] is second[1][1]  # ("topic", ("str", "orders"))
        assert first[1][0] is not second[1][0]
        own = sdk_function()
        assert own({"topic": "orders"})[1][0] is not own({"topic": "orders"})[1][0]

    def test_types_stay_distinct(self, shared: Callable[[Any], Any]) -> None:
        """A string label value never shares a key with the bool, int or float the SDK keeps apart."""
        keys = {shared({"k": value}) for value in ("1", 1, True, 1.0)}
        assert len(keys) == 4

    def test_cache_starts_over_at_its_limit(
        self, shared: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past MAX_SHARED_VALUES pairs the cache is dropped: keys stay equal, earlier pairs are no longer reused."""
        monkeypatch.setattr(attribute_keys, "MAX_SHARED_VALUES", 3)
        before = shared({"k": "0"})
        for value in range(1, 5):
            assert shared({"k": str(value)}) == sdk_function()({"k": str(value)})
        after = shared({"k": "0"})
        assert after == before
        assert after[1][0] is not before[1][0]


class TestShareAttributeKeys:
    @pytest.fixture
    def restore(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put back whatever key function the SDK had after the test."""
        monkeypatch.setattr(sdk, FUNCTION, getattr(sdk, FUNCTION))

    def test_installs_once(self, restore: None) -> None:
        """The SDK's pinned version accepts the shared function; installing again changes nothing."""
        assert share_attribute_keys()
        installed = getattr(sdk, FUNCTION)
        assert installed is not sdk_function()
        assert share_attribute_keys()
        assert getattr(sdk, FUNCTION) is installed

    def test_refuses_an_sdk_with_other_keys(self, restore: None) -> None:
        """An SDK whose keys differ from ours keeps its own function."""

        def other(value: object) -> str:
            return repr(value)

        setattr(sdk, FUNCTION, other)
        assert not share_attribute_keys()
        assert getattr(sdk, FUNCTION) is other

    def test_series_stay_apart_through_the_sdk(self, restore: None) -> None:
        """Through a real MeterProvider, values equal in Python but not in OTel are separate series, and each
        string label set is one series."""
        assert share_attribute_keys()
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        counter = provider.get_meter("test").create_counter("c")
        for value in ("1", 1, True, 1.0, "1"):
            counter.add(1, {"k": value, "topic": "orders"})
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        points = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
        by_value = sorted(
            (repr(p.attributes["k"]), p.value)
            for p in points
            if isinstance(p, NumberDataPoint) and p.attributes is not None
        )
        assert by_value == [("'1'", 2), ("1", 1), ("1.0", 1), ("True", 1)]

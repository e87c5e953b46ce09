"""What tests, benchmarks and the demo reuse to drive the engine against a real broker and a real store.

- :mod:`.data`: the sample data sets (JSON-like events of an exact value size, a key and two headers per record);
- :mod:`.topics`: create, fill, count and delete topics on a real broker; produce exact records;
- :mod:`.store`: :class:`RecordingStore`, a real store that remembers what was done to it, in order.

Nothing here mocks Kafka or storage: a recording store wraps a real one, topics live on a real broker. The module is
shipped with the engine so that library users can test their own jobs the same way.
"""

from __future__ import annotations

from kafka_backup.engine.testing.data import HEADERS, DataSet, key, value, values
from kafka_backup.engine.testing.store import RecordingStore, StoreCall
from kafka_backup.engine.testing.topics import (
    Record,
    create_topic,
    delete_topics,
    fill,
    produce,
    produce_records,
    topic_records,
)

__all__ = [
    "HEADERS",
    "DataSet",
    "Record",
    "RecordingStore",
    "StoreCall",
    "create_topic",
    "delete_topics",
    "fill",
    "key",
    "produce",
    "produce_records",
    "topic_records",
    "value",
    "values",
]

"""The kafka-backup engine: backup and restore of Kafka topics to fsspec storage in Parquet segments."""

__all__: list[str] = []

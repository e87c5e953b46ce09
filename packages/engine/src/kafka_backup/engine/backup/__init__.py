"""Backup runs: Kafka partitions into committed Parquet segments."""

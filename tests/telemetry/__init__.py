"""Tests of kafka_backup.telemetry, one module per package module."""

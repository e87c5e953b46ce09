"""Restore runs: segments back into Kafka, and consumer-group offsets onto the restored topics."""

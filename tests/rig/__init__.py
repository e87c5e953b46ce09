"""Real components for development and tests: the Kafka broker (and, later, storage and observability servers)."""

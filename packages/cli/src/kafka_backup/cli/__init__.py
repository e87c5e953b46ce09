"""The ``kafka-backup`` command line."""

__all__: list[str] = []

"""The version of the ``kafka-backup`` distribution."""

VERSION = "0.1.0"
"""As in packages/cli/pyproject.toml, spelled here because reading it with ``importlib.metadata`` costs 0.1 s of
start-up (email, zipfile, csv); a test checks the two agree."""

"""Benchmarks of kafka-backup against kcat and Kafka's own performance tools, on the same data and broker.

``make bench`` (or ``python -m bench``) starts a local broker, generates the data sets, runs every case with its peers
interleaved (A B A B ...) and prints a table of absolute figures and ratios to the peers; the raw samples go to
``bench-results/``. ``docs/performance.md`` describes the cases, the targets and the latest table.

The package is not under ``tests/`` on purpose: the test suite never times anything.
"""

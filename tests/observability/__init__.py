"""Tests of the observability deliverables: rules, dashboards, a real Prometheus and a built OpenTelemetry Collector."""

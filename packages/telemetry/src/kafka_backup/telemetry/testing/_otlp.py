"""In-process OTLP receivers for tests: gRPC (the collector service stubs) and HTTP/protobuf (stdlib http.server).

Both store every export request they receive, so a test can point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at
``receiver.endpoint`` and assert on what really crossed the wire::

    with OtlpGrpcReceiver() as receiver:
        telemetry = setup(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}, set_global=False)
        ...
        telemetry.shutdown()
        assert "kafka_backup_records" in receiver.metric_names()
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["OtlpGrpcReceiver", "OtlpHttpReceiver", "OtlpReceiver", "attributes_of"]

MetricsRequest = metrics_service_pb2.ExportMetricsServiceRequest
TraceRequest = trace_service_pb2.ExportTraceServiceRequest
LogsRequest = logs_service_pb2.ExportLogsServiceRequest


def _any_value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def attributes_of(attributes: Any) -> dict[str, object]:
    """A protobuf ``repeated KeyValue`` as a plain dict."""
    pairs: list[KeyValue] = list(attributes)
    return {kv.key: _any_value(kv.value) for kv in pairs}


class OtlpReceiver:
    """What both receivers store; thread-safe, since exporters send from their own threads."""

    endpoint: str

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.metric_requests: list[MetricsRequest] = []
        self.trace_requests: list[TraceRequest] = []
        self.log_requests: list[LogsRequest] = []
        self.headers: list[dict[str, str]] = []

    def _store(self, request: MetricsRequest | TraceRequest | LogsRequest, headers: dict[str, str]) -> None:
        with self._lock:
            if isinstance(request, MetricsRequest):
                self.metric_requests.append(request)
            elif isinstance(request, TraceRequest):
                self.trace_requests.append(request)
            else:
                self.log_requests.append(request)
            self.headers.append(headers)
            self._lock.notify_all()

    def metrics(self) -> list[Metric]:
        """Every metric of every request received so far."""
        with self._lock:
            requests = list(self.metric_requests)
        return [m for r in requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]

    def metric_names(self) -> set[str]:
        """Names of the metrics received so far."""
        return {m.name for m in self.metrics()}

    def spans(self) -> list[Span]:
        """Every span received so far."""
        with self._lock:
            requests = list(self.trace_requests)
        return [s for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def logs(self) -> list[LogRecord]:
        """Every log record received so far."""
        with self._lock:
            requests = list(self.log_requests)
        return [lr for r in requests for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records]

    def resource_attributes(self) -> dict[str, object]:
        """Resource attributes of the first metrics request (what setup() derived from the environment)."""
        with self._lock:
            request = self.metric_requests[0]
        return attributes_of(request.resource_metrics[0].resource.attributes)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``condition()`` holds (re-checked on every request received); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: MetricsRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self._receiver._store(request, {k: str(v) for k, v in context.invocation_metadata()})
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: TraceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._receiver._store(request, {k: str(v) for k, v in context.invocation_metadata()})
        return trace_service_pb2.ExportTraceServiceResponse()


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: LogsRequest, context: grpc.ServicerContext) -> logs_service_pb2.ExportLogsServiceResponse:
        self._receiver._store(request, {k: str(v) for k, v in context.invocation_metadata()})
        return logs_service_pb2.ExportLogsServiceResponse()


class OtlpGrpcReceiver(OtlpReceiver):
    """An OTLP/gRPC collector on a free loopback port; ``endpoint`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        super().__init__()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        # The generated *_pb2_grpc modules carry no annotations.
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _MetricsService(self), self._server
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self), self._server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _LogsService(self), self._server
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop(grace=None).wait()

    def __enter__(self) -> OtlpGrpcReceiver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


_HTTP_PATHS: dict[str, type[MetricsRequest] | type[TraceRequest] | type[LogsRequest]] = {
    "/v1/metrics": MetricsRequest,
    "/v1/traces": TraceRequest,
    "/v1/logs": LogsRequest,
}


class _Serializable(Protocol):
    def SerializeToString(self) -> bytes: ...


_HTTP_RESPONSES: dict[str, Callable[[], _Serializable]] = {
    "/v1/metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "/v1/traces": trace_service_pb2.ExportTraceServiceResponse,
    "/v1/logs": logs_service_pb2.ExportLogsServiceResponse,
}


class OtlpHttpReceiver(OtlpReceiver):
    """An OTLP/HTTP (protobuf) collector on a free loopback port; ``endpoint`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request_type = _HTTP_PATHS.get(self.path)
                if request_type is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404 if request_type is None else 415)
                    self.end_headers()
                    return
                receiver._store(request_type.FromString(body), {k.lower(): v for k, v in self.headers.items()})
                payload = _HTTP_RESPONSES[self.path]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: test output is for assertions, not access logs."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-http-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> OtlpHttpReceiver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

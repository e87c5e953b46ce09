"""aiohttp's side of ``MetricsServer``: serve a bound socket on the running loop until told to stop.

Imported only by ``MetricsServer.start()``, so a process that never serves never imports aiohttp. ``server.py``
answers requests with plain ``(status, headers, body)`` tuples; this module turns them into responses, so aiohttp
stays behind this one function.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["Answer", "Handler", "serve"]

Answer = tuple[int, list[tuple[str, str]], bytes]
"""Status, headers and body of one response."""
Handler = Callable[[web.BaseRequest], Awaitable[Answer]]


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler, plus an answer for HTTP/0.9 and quiet client errors.

    An HTTP/0.9 request is the request line alone (``GET /metrics`` CRLF, no version, no headers), but the parser
    waits for the blank line that ends headers, so the request would sit unanswered until the idle timeout. When the
    first bytes of a connection are exactly one request line without an ``HTTP/`` version, that blank line is
    supplied, and the request is answered (and the connection closed, as HTTP/0.9 has no keep-alive).

    A request the parser rejects (garbage, oversized headers) is answered 4xx as aiohttp does, but logged at debug
    level, not as an error with a traceback: it is the client's mistake, and a port scanner must not fill the logs.
    """

    _seen_data = False
    _client_error = False

    def data_received(self, data: bytes) -> None:
        if not self._seen_data:
            self._seen_data = True
            line = data.rstrip(b"\r\n")
            if data.endswith(b"\n") and b"\n" not in line and b" HTTP/" not in line:
                data += b"\r\n"
        super().data_received(data)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        self._client_error = status < 500
        try:
            return super().handle_error(request, status, exc, message)
        finally:
            self._client_error = False

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        if self._client_error:
            self.logger.debug(*args, **kwargs)
        else:
            super().log_exception(*args, **kwargs)


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


async def serve(
    sock: socket.socket,
    handler: Handler,
    *,
    backlog: int,
    idle_timeout_s: float,
    shutdown_grace_s: float,
    stopped: asyncio.Future[None],
) -> None:
    """Serve ``sock`` with ``handler`` until ``stopped`` resolves, then close the listener and every connection.

    ``idle_timeout_s`` is aiohttp's keep-alive timeout, which it also arms when a connection opens: a connection
    without a complete request for that long is closed. A request still running at stop gets ``shutdown_grace_s``.
    """

    async def respond(request: web.BaseRequest) -> web.StreamResponse:
        status, headers, body = await handler(request)
        return web.Response(status=status, headers=headers, body=body)

    # access_log=None: scrapes every 15 s would drown the logs; access logging is the proxy's job
    server = _Server(respond, access_log=None, keepalive_timeout=idle_timeout_s)
    runner = web.ServerRunner(server, shutdown_timeout=shutdown_grace_s, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, backlog=backlog).start()
        await stopped
    finally:
        await runner.cleanup()

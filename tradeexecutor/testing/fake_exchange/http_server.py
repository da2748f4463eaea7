"""The HTTP layer of the fake exchange: sockets, keep-alive connections, writing answers.

Why: ccxt must talk to the fake over real HTTP/1.1 (keep-alive, Content-Length), and tests must
be able to stop the server even while a fault keeps a connection waiting. What a request means
is decided elsewhere: the server hands Binance requests and ``/_fake/`` control requests to the
two callables it was given.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

__all__ = ["BinanceHandler", "ControlHandler", "ExchangeHttpServer", "Responder"]

log = logging.getLogger(__name__)


class Responder(Protocol):
    """What an endpoint needs of the connection it answers on."""

    @property
    def headers(self) -> Any: ...

    def send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None: ...

    def send_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None: ...

    def drop(self) -> None: ...


#: (responder, method, path, query, body)
BinanceHandler = Callable[[Responder, str, str, str, str], None]
#: (responder, method, path, body)
ControlHandler = Callable[[Responder, str, str, str], None]


class ExchangeHttpServer(ThreadingHTTPServer):
    """Threading server that can also hang up on idle keep-alive connections at shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], binance: BinanceHandler, control: ControlHandler) -> None:
        self.binance = binance
        self.control = control
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def hang_up_all(self) -> None:
        """Wake handler threads blocked on reads so server_close can join them."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request and hands it to the API object."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeBinance/1.0"
    timeout = 120
    server: ExchangeHttpServer

    def setup(self) -> None:
        super().setup()
        # small header and body writes otherwise stall ~40 ms on Nagle + delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_bytes(400, b"Bad Content-Length", "text/plain; charset=utf-8")
            self.close_connection = True
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length > 0 else ""
        url = urlsplit(self.path)
        if url.path.startswith("/_fake/"):
            self.server.control(self, method, url.path, body)
        else:
            self.server.binance(self, method, url.path, url.query, body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Write a complete answer; a client that already left is not an error."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
        """Write a JSON answer."""
        self.send_bytes(status, orjson.dumps(value), "application/json;charset=UTF-8", headers)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

"""HTTP plumbing: a ThreadingHTTPServer speaking HTTP/1.1 (keep-alive, chunked NDJSON streams), the route
table, the /_double/ control API, and a runner that can close and reopen its listener (a "refused" outage).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import api, control, openai_compat
from .state import Settings, State

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, UTF-8, with <, > and & escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: State):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.state = state
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that reset or drop their connection are normal; only real errors get a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def drop_all(self) -> None:
        with self.active_lock:
            conns = list(self.active)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


Route = Callable[["Handler", dict[str, Any]], Any]

# path -> {method: handler(request-handler, json-body)}
ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": lambda h, b: api.Reply(200, b"Ollama is running", "text/plain; charset=utf-8")},
    "/api/version": {"GET": lambda h, b: api.version(h.state)},
    "/api/tags": {"GET": lambda h, b: api.tags(h.state)},
    "/api/ps": {"GET": lambda h, b: api.ps(h.state)},
    "/api/show": {"POST": lambda h, b: api.show(h.state, b)},
    "/api/pull": {"POST": lambda h, b: api.pull(h.state, b)},
    "/api/delete": {"DELETE": lambda h, b: api.delete(h.state, b)},
    "/api/copy": {"POST": lambda h, b: api.copy_model(h.state, b)},
    "/api/chat": {"POST": lambda h, b: api.chat(h.state, b)},
    "/api/generate": {"POST": lambda h, b: api.generate(h.state, b)},
    "/api/embed": {"POST": lambda h, b: api.embed(h.state, b)},
    "/api/embeddings": {"POST": lambda h, b: api.embeddings(h.state, b)},
    "/api/create": {"POST": lambda h, b: api.create(h.state, b)},
    # The OpenAI layer binds the raw body itself: its errors have OpenAI's shape and Go's texts.
    "/v1/embeddings": {"POST": lambda h, b: openai_compat.embeddings(h.state, h.raw_body)},
}
# Ollama answers HEAD on these with the GET headers.
HEAD_AS_GET = {"/", "/api/version", "/api/tags"}
JSON_BODY_ROUTES = {"/api/show", "/api/pull", "/api/delete", "/api/copy", "/api/chat", "/api/generate"}
JSON_BODY_ROUTES |= {"/api/embed", "/api/embeddings", "/api/create"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go's net package sets TCP_NODELAY on every connection, so Ollama's server sends each write at once.
    # Without it a keep-alive client waits for its delayed ACK (40 ms on Linux) whenever the headers and the
    # body go out in two writes: the double would look 20 times slower than Ollama.
    disable_nagle_algorithm = True
    server: _Server

    # -- connection bookkeeping -------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        with self.server.active_lock:
            self.server.active.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.active_lock:
            self.server.active.discard(self.connection)

    @property
    def state(self) -> State:
        return self.server.state

    def send_response(self, code: int, message: str | None = None) -> None:
        """Like BaseHTTPRequestHandler's, minus the Server header (Ollama sends none)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        if self.state.settings.verbose:
            sys.stderr.write(f"[double] {self.address_string()} | {format % args}\n")

    # -- methods ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self.dispatch("OPTIONS")

    # -- request bodies ---------------------------------------------------------------------------
    def body_chunks(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 1 << 20))
                    if not data:
                        return
                    remaining -= len(data)
                    yield data
                self.rfile.readline(1024)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(remaining, 1 << 20))
                if not data:
                    return
                remaining -= len(data)
                yield data

    # -- responses --------------------------------------------------------------------------------
    def send(self, reply: api.Reply, head: bool = False) -> None:
        if isinstance(reply.body, (bytes, bytearray)):
            data = bytes(reply.body)
        elif reply.body is None:
            data = b""
        else:
            data = go_json(reply.body) + (b"\n" if reply.trailing_newline else b"")
        self.record_status(reply.status)
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head and data:
            self.wfile.write(data)
        self.wfile.flush()

    def record_status(self, status: int) -> None:
        # In the request log before the client can read the answer, as a client may ask for the log at once.
        self.status_sent = status
        entry = getattr(self, "current_entry", None)
        if entry is not None:
            entry["status"] = status

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def abort(self) -> None:
        self.close_connection = True
        self.status_sent = 0
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_stream(self, stream: api.Stream) -> None:
        events = stream.events
        try:
            if not stream.stream:
                last: Any = None
                for event in events:
                    if isinstance(event, api.ApiError):
                        self.send(api.error(event.status, event.message))
                        return
                    last = event
                self.send(api.Reply(200, last if last is not None else {}, "application/json"))
                return
            started = False
            for event in events:
                if isinstance(event, api.ApiError):
                    if not started:
                        self.send(api.error(event.status, event.message))
                        return
                    self._write_chunk(go_json({"error": event.message}) + b"\n")
                    break
                if not started:
                    self.record_status(200)
                    self.send_response(200)
                    self.send_header("Content-Type", api.NDJSON)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    started = True
                self._write_chunk(go_json(event) + b"\n")
            if not started:
                self.send(api.Reply(200, None))
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except api.DropConnection:
            self.abort()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    # -- dispatch ---------------------------------------------------------------------------------
    def dispatch(self, method: str) -> None:
        self.status_sent = 0
        self.raw_body = b""
        url = urlsplit(self.path)
        path = url.path
        is_blob = path.startswith("/api/blobs/")
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": method,
            "path": path,
            "query": url.query,
            "body": None,
            "authorization": "Authorization" in self.headers,
            "user_agent": self.headers.get("User-Agent", ""),
            "status": None,
        }
        self.current_entry = entry
        is_control = path.startswith("/_double/") or path == "/_double"
        try:
            if not is_control:
                fault = self.state.api_fault()
                if fault is not None and fault.get("mode") == "delay":
                    time.sleep(float(fault.get("delay", 1.0)))
                elif fault is not None:
                    entry["fault"] = fault.get("mode")
                    for _ in self.body_chunks():
                        pass
                    self.state.log_request(entry)
                    self.apply_api_fault(fault)
                    return
            if is_blob:
                self.state.log_request(entry)
                self.handle_blob(method, path[len("/api/blobs/") :], entry)
                return
            raw = self.raw_body = b"".join(self.body_chunks())
            body: Any = None
            body_error = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                    first = body.strip()[:1] or " "
                    body_error = f"invalid character '{first}' looking for beginning of value"
            entry["body"] = body
            if not is_control:
                self.state.log_request(entry)
            if is_control:
                reply = control.handle(
                    self.state, method, path, body if isinstance(body, dict) else {}, parse_qs(url.query)
                )
                self.send(reply)
                if self.state.runner is not None:
                    # A "refuse" outage starts only once its own control request has been answered.
                    self.state.runner.start_pending_outage()
                return
            routes = ROUTES.get(path)
            if routes is None:
                self.send(api.Reply(404, b"404 page not found", "text/plain"), head=method == "HEAD")
                return
            route_method = "GET" if method == "HEAD" and path in HEAD_AS_GET else method
            handler = routes.get(route_method)
            if handler is None:
                self.send(api.Reply(405, b"405 method not allowed", "text/plain"), head=method == "HEAD")
                return
            if path in JSON_BODY_ROUTES:
                if not raw:
                    self.send(api.error(400, "missing request body"))
                    return
                if body_error or not isinstance(body, dict):
                    self.send(api.error(400, body_error or "json: cannot unmarshal into Go value of type object"))
                    return
            try:
                reply = handler(self, body if isinstance(body, dict) else {})
            except api.BadRequest as exc:
                reply = api.error(exc.status, exc.message)
            if isinstance(reply, api.Stream):
                self.send_stream(reply)
            else:
                self.send(reply, head=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as exc:
            sys.stderr.write(f"ollama-double: error handling {method} {path}: {exc!r}\n")
            if not self.status_sent:
                try:
                    self.send(api.error(500, str(exc)))
                except OSError:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            entry["status"] = self.status_sent or None

    def handle_blob(self, method: str, digest: str, entry: dict[str, Any]) -> None:
        if method == "HEAD":
            for _ in self.body_chunks():
                pass
            self.send(api.head_blob(self.state, digest), head=True)
        elif method == "POST":
            size = 0

            def counted() -> Iterator[bytes]:
                nonlocal size
                for chunk in self.body_chunks():
                    size += len(chunk)
                    yield chunk

            reply = api.create_blob(self.state, digest, counted())
            entry["body_bytes"] = size
            self.send(reply)
        else:
            for _ in self.body_chunks():
                pass
            self.send(api.Reply(405, b"405 method not allowed", "text/plain"), head=method == "HEAD")

    def apply_api_fault(self, fault: dict[str, Any]) -> None:
        mode = str(fault.get("mode", "500"))
        if not mode.isdigit():  # "reset" (and "refuse" between accept and close): no answer at all
            self.abort()
            return
        self.send(api.error(int(mode), str(fault.get("message") or "something went wrong")))


class Runner:
    """Owns the listening socket. serve() blocks; outage() closes the listener for a while ("refused")."""

    def __init__(self, state: State):
        self.state = state
        state.runner = self
        self.server: _Server | None = None
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.reopen_at = 0.0
        self.pending_outage: float | None = None
        self.bound: tuple[str, int] | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        self.ready.wait(30)
        assert self.bound is not None
        return self.bound[1]

    def _make(self) -> _Server:
        host, port = self.state.settings.host, self.state.settings.port
        if self.bound is not None:
            port = self.bound[1]
        for attempt in range(50):
            try:
                return _Server((host or "0.0.0.0", port), self.state)
            except OSError:
                if attempt == 49 or self.bound is None:
                    raise
                time.sleep(0.1)
        raise OSError("cannot bind")

    def serve(self) -> None:
        settings = self.state.settings
        if settings.start_delay and settings.start_mode == "refuse":
            self.reopen_at = time.time() + settings.start_delay
        while not self.stopping.is_set():
            # Polled, so that end_outage() can bring the listener back before its time.
            while time.time() < self.reopen_at and not self.stopping.is_set():
                self.stopping.wait(0.05)
            if self.stopping.is_set():
                break
            server = self._make()
            with self._lock:
                self.server = server
                self.bound = server.server_address[:2]
            self.ready.set()
            try:
                server.serve_forever(poll_interval=0.05)
            finally:
                server.server_close()
                server.drop_all()
                with self._lock:
                    self.server = None

    def request_outage(self, seconds: float) -> None:
        """Schedule an outage for when the current control request has been answered."""
        self.pending_outage = seconds

    def start_pending_outage(self) -> None:
        seconds, self.pending_outage = self.pending_outage, None
        if seconds is not None:
            self.outage(seconds)

    def outage(self, seconds: float) -> None:
        """Stop listening now and listen again after ``seconds`` (clients get "connection refused")."""
        self.reopen_at = time.time() + seconds
        with self._lock:
            server = self.server
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    def end_outage(self) -> None:
        """Listen again now (a test ends an outage it started with a long ``seconds``)."""
        self.reopen_at = 0.0

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            server = self.server
        if server is not None:
            server.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (as PID 1 in a container too: the default SIGTERM action does not apply there)."""
    state = State(settings)
    runner = Runner(state)
    host = settings.host or "0.0.0.0"
    print(
        f"ollama-double {settings.version}: listening on {host}:{settings.port}, models in {state.store.root}, "
        f"gpu={settings.gpu}",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        runner.serve()

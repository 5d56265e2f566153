"""A local HTTP receiver for webhook tests and the benchmark: records every POST, answers as told."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers.get("webhook-id", "")


# ``respond(request, nth)`` returns a status code or (status, body); ``nth`` counts this event's arrivals.
Responder = Callable[[Received, int], int | tuple[int, bytes]]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a sender that hangs up (a timeout, a killed worker) is not the receiver's error


class Receiver:
    """``with Receiver() as r: ... r.url ... r.requests``. Threaded, HTTP/1.1 keep-alive, 127.0.0.1."""

    def __init__(self, respond: Responder | None = None):
        self.respond: Responder = respond or (lambda request, nth: 200)
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks"

    def event_ids(self) -> list[str]:
        with self._lock:
            return [r.event_id for r in self.requests]

    def __enter__(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle delay: otherwise every keep-alive request waits ~40 ms
            # for a delayed ACK between the header and body segments.
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                with receiver._lock:
                    nth = sum(1 for r in receiver.requests if r.event_id == request.event_id) + 1
                    receiver.requests.append(request)
                answer = receiver.respond(request, nth)
                status, body = answer if isinstance(answer, tuple) else (answer, b'{"received": true}')
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (a timeout test)

            def log_message(self, format, *args):
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

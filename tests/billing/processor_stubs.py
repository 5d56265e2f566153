"""Payment processors' APIs at their HTTP boundary: a local server with canned answers (Mollie's from the bodies of
its reference in tests/fixtures/mollie), shared by the adapter tests and the tests of the processors' webhooks; and
the installation's default gateway (``BILLING_GATEWAY``) pointed at whichever adapter instance a test configures."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from billing.gateways.mollie import MollieGateway

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mollie"
API_KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
WEBHOOK_URL = "https://portal.example.org/webhooks/mollie"


class ProcessorStub:
    """Canned answers per (method, path), and every request it received. ``with`` runs it."""

    content_type = "application/json"

    def __init__(self):
        self.routes: dict[tuple[str, str], tuple[int, bytes, float]] = {}
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode()  # a form-encoded request (Stripe's)
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": url.query,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "json": body,
                    }
                )
                status, answer, delay = stub.routes.get((self.command, url.path), (404, b'{"status": 404}', 0.0))
                time.sleep(delay)  # a processor that answers late
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", stub.content_type)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, body: bytes | dict, *, status: int = 200, delay: float = 0.0) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[(method, path)] = (status, raw, delay)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class MollieStub(ProcessorStub):
    """Mollie's API (``/v2/…``)."""

    content_type = "application/hal+json"

    def answer(self, method: str, path: str, fixture: str = "", *, status: int = 200, body: bytes = b"", delay=0.0):
        self.route(method, f"/v2/{path}", body or fixture_bytes(fixture), status=status, delay=delay)

    def gateway(self, **kwargs) -> MollieGateway:
        options = {"api_key": API_KEY, "webhook_url": WEBHOOK_URL, "api_endpoint": self.url, "timeout": 2.0}
        return MollieGateway(**(options | kwargs))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


class ConfiguredGateway:
    """``BILLING_GATEWAY = "tests.billing.processor_stubs.ConfiguredGateway"``: the adapter instance in
    ``ConfiguredGateway.adapter`` (a StripeGateway on a second instance of our server, a MollieGateway on the stub).
    ``billing.gateways`` builds the default gateway once per class path, so the instance behind it is swapped here."""

    adapter = None

    def __getattr__(self, name):
        return getattr(type(self).adapter, name)

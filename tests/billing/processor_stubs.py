"""Payment processors at their HTTP boundary, for tests that drive our adapters end to end: Mollie's API as a local
server answering with bodies from its reference (``tests/fixtures/mollie``), and the installation's default gateway
(``BILLING_GATEWAY``) pointed at whichever adapter instance a test configures."""

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


class MollieStub:
    """Mollie's API at its HTTP boundary: canned answers per (method, path), and every request it received."""

    def __init__(self):
        self.routes: dict[tuple[str, str], tuple[int, bytes, float]] = {}
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": url.query,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "json": json.loads(raw) if raw else None,
                    }
                )
                status, body, delay = stub.routes.get((self.command, url.path), (404, b'{"status": 404}', 0.0))
                time.sleep(delay)  # a processor that answers late
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/hal+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
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

    def answer(self, method: str, path: str, fixture: str = "", *, status: int = 200, body: bytes = b"", delay=0.0):
        body = body or (FIXTURES / f"{fixture}.json").read_bytes()
        self.routes[(method, f"/v2/{path}")] = (status, body, delay)

    def gateway(self, **kwargs) -> MollieGateway:
        options = {"api_key": API_KEY, "webhook_url": WEBHOOK_URL, "api_endpoint": self.url, "timeout": 2.0}
        return MollieGateway(**(options | kwargs))


class ConfiguredGateway:
    """``BILLING_GATEWAY = "tests.billing.processor_stubs.ConfiguredGateway"``: the adapter instance in
    ``ConfiguredGateway.adapter`` (a StripeGateway on a second instance of our server, a MollieGateway on the stub).
    ``billing.gateways`` builds the default gateway once per class path, so the instance behind it is swapped here."""

    adapter = None

    def __getattr__(self, name):
        return getattr(type(self).adapter, name)

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP endpoint on 127.0.0.1 that answers from a script and records every request.

    `script` is a list of (status, body, headers, delay_seconds); the last entry repeats.
    """

    script: list[tuple[int, bytes, dict[str, str], float]] = field(default_factory=lambda: [(200, b"ok", {}, 0.0)])
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def answer(self, *responses: tuple) -> None:
        defaults = (200, b"", {}, 0.0)
        self.script = [tuple(response) + defaults[len(response) :] for response in responses]


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server interface
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            index = len(receiver.requests)
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            status, payload, headers, delay = receiver.script[min(index, len(receiver.script) - 1)]
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/tessera"
    yield state
    server.shutdown()
    server.server_close()

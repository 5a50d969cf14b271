"""The vendor mocks' HTTP: a JSON server on a loopback port in a thread of the process that
uses it (the tests, the demo). A mock says how it answers one request (``respond``); this
serves it."""

from __future__ import annotations

import json
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackJsonMock:
    content_type = "application/json"
    methods: tuple[str, ...] = ("GET",)  # others answer 501, as http.server does

    def respond(self, method: str, target: str, headers: Message, body: bytes) -> tuple[int, Any, dict | None]:
        """(status, JSON body, extra headers) of one request; ``target``: its path and query."""
        raise NotImplementedError

    def __enter__(self):
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _serve(self) -> None:
                if self.command not in mock.methods:
                    return self.send_error(501, f"Unsupported method ({self.command!r})")
                received = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = mock.respond(self.command, self.path, self.headers, received)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", mock.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

"""Real alert receivers on loopback: an HTTP webhook endpoint and an SMTP server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from aiosmtpd.controller import Controller

from harvey_pipelines_tests.processes import LoopbackHttpServer, free_port


class WebhookReceiver(LoopbackHttpServer):
    def __init__(self):
        self.messages: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.url = f"{self.origin}/hooks/alerts"


class MailReceiver:
    def __init__(self):
        self.messages: list[dict] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                receiver.messages.append({
                    "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                    "body": envelope.content.decode("utf-8", "replace"),
                })
                return "250 Message accepted for delivery"

        self.port = free_port()  # aiosmtpd needs a concrete port
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

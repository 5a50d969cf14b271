"""Starting and stopping the real servers tests and benchmarks need (webserver, daemon, mock)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoopbackHttpServer:
    """A real HTTP server on 127.0.0.1 in a thread, answering with ``handler`` (a
    ``BaseHTTPRequestHandler``); ``origin`` is its http://host:port. Use it as a context."""

    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop's next poll: a short one keeps a test's teardown short
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Request:
    """What a ``ScriptedHttpServer`` received."""

    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class ScriptedHttpServer(LoopbackHttpServer):
    """A real HTTP server on loopback whose every answer the test decides, for unit tests of the
    HTTP engine and paginators: ``respond(request)`` returns ``(status, headers, body)``, a body
    of bytes as is, anything else as JSON. It keeps every request in ``requests``."""

    def __init__(self, respond: Callable[[Request], tuple[int, dict[str, str], Any]]):
        self.requests: list[Request] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, url.path, dict(parse_qsl(url.query)),
                                  {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with lock:
                    outer.requests.append(request)
                status, headers, body = respond(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test): nothing to answer to

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        super().__init__(Handler)


def wait_http(url: str, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers 200; fails early if ``process`` (the server) has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited with {process.returncode}")
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def start_server(command: list[str], **kw) -> subprocess.Popen:
    """A server in a process group of its own, so that ``stop`` also ends what it starts
    (the webserver's and the daemon's gRPC code servers); its output discarded unless ``kw`` says."""
    return subprocess.Popen(command, start_new_session=True,
                            **{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **kw})


def stop(processes: list[subprocess.Popen], timeout: float = 30) -> None:
    def signal_group(process, sig):
        try:
            os.killpg(process.pid, sig)  # its group, when started by start_server
        except (ProcessLookupError, PermissionError):
            pass
        if process.poll() is None:
            process.send_signal(sig)

    for process in processes:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        signal_group(process, signal.SIGKILL)  # what is left of the group

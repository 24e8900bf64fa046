"""A local stand-in for the publishers' servers: HTTP on 127.0.0.1 with Range support and dropped connections.

It serves files from a folder, records every request (path, method, Range header), can cut the
connection halfway through the next N responses for a path, and answers Hugging Face Hub style
``/{org}/{name}/resolve/{rev}/{file}`` URLs with the headers ``huggingface_hub`` expects, so
``HF_ENDPOINT`` can point at it.
"""
from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"
_HUB = re.compile(r"^/(?:api/)?(?:models/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class WeightsServer:
    """``with WeightsServer(root) as server: server.url("file.zip")``; ``server.requests`` logs what came in."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[dict] = []
        self._drops: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- control -------------------------------------------------------------------------------
    def drop_next(self, name: str, times: int = 1) -> None:
        """Cut the connection halfway through the next `times` responses for `name`."""
        with self._lock:
            self._drops["/" + name] = times

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def gets(self, name: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/" + name and r["method"] == "GET"]

    def start(self) -> WeightsServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                server._serve(self, head=True)

            def do_GET(self) -> None:
                server._serve(self, head=False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> WeightsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = handler.path.split("?", 1)[0]
        self.requests.append({"path": path, "method": "HEAD" if head else "GET", "range": handler.headers.get("Range")})
        hub = _HUB.match(path)
        file = self.root / (f"hub/{hub.group(1)}/{hub.group(3)}" if hub else path.lstrip("/"))
        if ".." in Path(path).parts or not file.is_file():
            handler.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        match = re.match(r"bytes=(\d+)-$", handler.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        body = data[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Accept-Ranges", "bytes")
        if file.suffix == ".html":  # a sharing page (Google Drive / Dropbox) instead of the file
            handler.send_header("Content-Type", "text/html; charset=utf-8")
        if hub:
            handler.send_header("X-Repo-Commit", HUB_COMMIT)
            handler.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        handler.end_headers()
        if head:
            return
        with self._lock:
            drop = self._drops.get(path, 0)
            if drop:
                self._drops[path] = drop - 1
        if drop:
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)  # the peer sees EOF before Content-Length bytes
            handler.close_connection = True
            return
        handler.wfile.write(body)

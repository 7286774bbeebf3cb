"""A local stand-in for the Hugging Face Hub's file protocol, for download tests without network (and, through
``serve_fake_hub.py``, for trying a fresh install's downloads offline: see weights/README.md).

It speaks what ``huggingface_hub`` (``get_hf_file_metadata`` + ``http_get``) uses to fetch one file:

* ``HEAD|GET {hub}/{repo_id}/resolve/{revision}/{path}``: for a known file, ``302 Found`` to the file's blob
  on a second server (the "CDN", another origin, like cas-bridge.xethub.hf.co / cdn-lfs.hf.co), with
  ``X-Repo-Commit``, ``X-Linked-Etag`` (the blob's SHA-256, as for LFS files), ``X-Linked-Size`` and
  ``ETag``. Unknown repository: 404 with ``X-Error-Code: RepoNotFound``; unknown file: 404 with
  ``X-Error-Code: EntryNotFound`` and ``X-Repo-Commit``.
* ``HEAD|GET {cdn}/blobs/{sha256}``: the bytes, with ``Content-Length``, ``ETag``, ``Accept-Ranges``; a
  ``Range: bytes=N-`` request is answered ``206`` with ``Content-Range`` (how huggingface_hub resumes).
* ``HEAD|GET {cdn}/plain/{name}``: a plain file for non-hub sources (like the S3FD address).

Every 404 carries an ``X-Error-Message`` that names what was asked for and lists what this hub serves (the
downloader shows it), so a file missing from a test's hub, or from ``serve_fake_hub.py``, says so at once.

Test switches (attributes of ``FakeHub``): ``cut_at`` (send that many bytes of a blob, then drop the
connection), ``cut_times`` (how many GETs are cut; later ones are served), ``refuse_resume`` (answer Range
requests with 503, so a cut cannot be resumed). Every request is logged in ``requests`` as
``(method, path, range_header, sent_authorization)``.
"""
from __future__ import annotations

import hashlib
import re
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")


@dataclass
class FakeHub:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)   # (repo_id, path) -> bytes
    plain: dict[str, bytes] = field(default_factory=dict)              # name -> bytes, under /plain/
    cut_at: int | None = None
    cut_times: int = 0
    refuse_resume: bool = False
    requests: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    endpoint: str = ""
    cdn: str = ""
    _blobs: dict[str, bytes] = field(default_factory=dict)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, path: str, data: bytes) -> None:
        self.files[(repo_id, path)] = data

    def file_requests(self) -> list[tuple[str, str, str | None, bool]]:
        """Requests for files (the hub's /resolve, the CDN's blobs and plain files), in order."""
        return [r for r in self.requests if "/resolve/" in r[1] or r[1].startswith(("/blobs/", "/plain/"))]

    def plain_url(self, name: str) -> str:
        return f"{self.cdn}/plain/{name}"

    def not_served(self, asked: str) -> dict[str, str]:
        """The X-Error-Message of a 404: what was asked for, and every file this hub serves."""
        served = [f"{repo}/{path}" for repo, path in self.files] + [f"plain/{name}" for name in self.plain]
        return {"X-Error-Message": f"the fake hub (tests/hub_server.py) does not serve {asked}; it serves "
                                   f"{', '.join(served) or 'nothing'}"}

    # -------------------------------------------------------------------------------- serving

    def start(self) -> "FakeHub":
        hub_server = _HubServer(("127.0.0.1", 0), _make_handler(self, is_cdn=False))
        cdn_server = _HubServer(("127.0.0.1", 0), _make_handler(self, is_cdn=True))
        for server in (hub_server, cdn_server):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        self.endpoint = f"http://127.0.0.1:{hub_server.server_address[1]}"
        self.cdn = f"http://127.0.0.1:{cdn_server.server_address[1]}"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def blob_for(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        self._blobs[sha256] = data
        return sha256

    def take_cut(self) -> bool:
        with self._lock:
            if self.cut_at is not None and self.cut_times > 0:
                self.cut_times -= 1
                return True
            return False


class _HubServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client hanging up mid-answer is what the cut-download tests do: not worth a traceback in the output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(hub: FakeHub, is_cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # keep test output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append((self.command, path, self.headers.get("Range"),
                                 self.headers.get("Authorization") is not None))
            if is_cdn and path.startswith("/blobs/"):
                data = hub._blobs.get(path[len("/blobs/"):])
                return self._send_bytes(data, send_body) if data is not None else \
                    self._empty(404, hub.not_served(f"the blob {path[len('/blobs/'):]}"))
            if is_cdn and path.startswith("/plain/"):
                data = hub.plain.get(path[len("/plain/"):])
                return self._send_bytes(data, send_body) if data is not None else \
                    self._empty(404, hub.not_served(path[1:]))
            match = _RESOLVE.match(path) if not is_cdn else None
            if match is None:
                return self._empty(404, hub.not_served(path))
            repo_id, file_path = match["repo"], match["path"]
            if not any(repo == repo_id for repo, _ in hub.files):
                return self._empty(404, {"X-Error-Code": "RepoNotFound",
                                         **hub.not_served(f"the repository {repo_id}")})
            data = hub.files.get((repo_id, file_path))
            if data is None:
                return self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT,
                                         **hub.not_served(f"{repo_id}/{file_path}")})
            sha256 = hub.blob_for(data)
            self._empty(302, {
                "Location": f"{hub.cdn}/blobs/{sha256}",
                "X-Repo-Commit": COMMIT,
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(data)),
                "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
            })

        def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send_bytes(self, data: bytes, send_body: bool) -> None:
            start = 0
            requested = self.headers.get("Range")
            if requested and send_body:
                if hub.refuse_resume:
                    return self._empty(503)
                start = int(re.match(r"bytes=(\d+)-", requested).group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if not send_body:
                return
            if hub.take_cut():
                stop = max(hub.cut_at, start)
                self.wfile.write(data[start:stop])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            view = memoryview(data)
            for offset in range(start, len(data), 1 << 20):
                self.wfile.write(view[offset:offset + (1 << 20)])

    return Handler


class SilentServer:
    """A TCP port that accepts connections (the kernel does) but never answers: a hanging network."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def close(self) -> None:
        self.socket.close()


def closed_port_url() -> str:
    """An address where nothing listens (connection refused at once)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"

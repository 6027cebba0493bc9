"""Counting DynamoDB requests on the wire: a forwarding proxy in front of the endpoint.

Used by `make bench` (DynamoDB requests per authorization) and by tests that must show a
request never reached the database (tests/e2e/test_leaked_credentials.py): it counts
what any client sent, retries included, by operation (`X-Amz-Target`).
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections import Counter
from urllib.parse import urlsplit


class WireCounter(http.server.ThreadingHTTPServer):
    """Forwards DynamoDB requests to `endpoint` and counts them by operation in `counts`,
    one upstream connection per request; `stop()` when done."""

    daemon_threads = True

    def __init__(self, endpoint: str) -> None:
        target = urlsplit(endpoint)
        self.counts: Counter[str] = Counter()
        counts = self.counts

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                counts[str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]] += 1
                upstream = http.client.HTTPConnection(target.hostname or "", target.port)
                try:
                    upstream.request("POST", self.path, body, dict(self.headers.items()))
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()

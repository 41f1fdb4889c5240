"""A 401's body is read only up to the error-body bound (httpx's auth flow reads it whole)."""

from __future__ import annotations

import httpx

from resources.registry.transport import MAX_ERROR_BODY_BYTES, ChallengeBodyBound


class _Body(httpx.SyncByteStream):
    def __init__(self, chunks: int, size: int) -> None:
        self.chunks, self.size, self.sent, self.closed = chunks, size, 0, False

    def __iter__(self):
        for _ in range(self.chunks):
            self.sent += self.size
            yield b"x" * self.size

    def close(self) -> None:
        self.closed = True


def test_a_small_challenge_body_is_read_whole():
    body = _Body(4, 1024)
    response = httpx.Response(401, stream=ChallengeBodyBound(body, MAX_ERROR_BODY_BYTES))
    assert response.read() == b"x" * 4096 and body.closed


def test_a_huge_challenge_body_is_cut_at_the_bound():
    body = _Body(100, 1024 * 1024)  # 100 MiB from a hostile registry
    response = httpx.Response(401, stream=ChallengeBodyBound(body, MAX_ERROR_BODY_BYTES))
    assert len(response.read()) == MAX_ERROR_BODY_BYTES and body.closed
    assert body.sent <= MAX_ERROR_BODY_BYTES + 1024 * 1024  # never read to its end


def test_the_registry_transport_bounds_a_401_from_a_real_server():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from resources.registry.transport import PacedTransport, RateLimiter

    size = 64 * 1024 * 1024
    written: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:1/token"')
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk, sent = b"x" * 65536, 0
            try:
                while sent < size:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the client hung up: what the bound is for
            written.append(sent)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        transport = PacedTransport(RateLimiter(None, 1))
        with httpx.Client(transport=transport) as client:
            response = client.get(f"http://127.0.0.1:{server.server_address[1]}/v2/")
            assert response.status_code == 401
            assert len(response.read()) == MAX_ERROR_BODY_BYTES
    finally:
        server.shutdown()
        server.server_close()
    assert written and written[0] < size  # the connection closed long before the end

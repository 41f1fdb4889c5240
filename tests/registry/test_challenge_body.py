"""A 401's body is drained only up to the error-body bound before the token request."""

from __future__ import annotations

import httpx

from resources.registry.auth import release_challenge
from resources.registry.transport import MAX_ERROR_BODY_BYTES


def _challenge(chunks: int, size: int, sent: list[int]) -> httpx.Response:
    def body():
        for _ in range(chunks):
            sent.append(size)
            yield b"x" * size

    return httpx.Response(401, content=body())


def test_a_small_challenge_body_is_drained_so_the_connection_is_reused():
    sent: list[int] = []
    response = _challenge(4, 1024, sent)
    release_challenge(response)
    assert sum(sent) == 4 * 1024 and response.is_closed


def test_a_huge_challenge_body_is_not_read_to_its_end():
    sent: list[int] = []
    response = _challenge(100, 1024 * 1024, sent)  # 100 MiB from a hostile registry
    release_challenge(response)
    assert sum(sent) <= MAX_ERROR_BODY_BYTES + 1024 * 1024 and response.is_closed

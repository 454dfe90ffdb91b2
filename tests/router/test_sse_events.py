"""The upstream stream reader splits server-sent events correctly however the bytes arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fleetplan.router.upstream import AttemptFailed, sse_events

STREAM = (
    b": comment\r\n\r\n"
    b'data: {"a": 1}\n\n'
    b"event: x\r\ndata: line1\r\ndata:line2\r\n\r\n"
    b"\n\n"
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]"
)
EXPECTED = [
    (b": comment\n\n", None),
    (b'data: {"a": 1}\n\n', '{"a": 1}'),
    (b"event: x\ndata: line1\ndata:line2\n\n", "line1\nline2"),
    ("data: café\n\n".encode(), "café"),
    (b"data: [DONE]\n\n", "[DONE]"),
]


class _Content:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def iter_any(self) -> Any:
        for p in self.pieces:
            yield p


class _Resp:
    def __init__(self, pieces: list[bytes]) -> None:
        self.content = _Content(pieces)


async def _all(pieces: list[bytes]) -> list[tuple[bytes, str | None]]:
    return [e async for e in sse_events(_Resp(pieces))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(STREAM)])
def test_events_are_the_same_however_the_bytes_are_cut(size: int) -> None:
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert asyncio.run(_all(pieces)) == EXPECTED


def test_a_line_over_1_mib_fails_the_attempt() -> None:
    with pytest.raises(AttemptFailed, match="over 1 MiB"):
        asyncio.run(_all([b"data: " + b"x" * (1 << 20) + b"x"]))

"""The served gateway's connection protocol: writes coalesced per round of the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from fleetplan.router.serve import Coalesced


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "a write after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_writes_of_one_round_leave_in_one_write_and_close_sends_them_first():
    async def main() -> None:
        t = _Transport()
        c = Coalesced(t, asyncio.get_running_loop())
        c.write(b"HTTP/1.1 200 OK\r\n\r\n")
        c.write(b"body")
        assert t.writes == [] and c.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert t.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        c.writelines([b"a", b"b"])
        c.close()  # what is pending goes out before the close
        assert t.writes[1:] == [b"ab"] and t.closing
        c.write(b"late")  # e.g. the peer went away: dropped, never written to a closing socket
        await asyncio.sleep(0)
        assert len(t.writes) == 2
        assert c.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the transport's

    asyncio.run(main())

"""A member process of the fault tests (run as a script, not collected).

Usage: _fault_member.py MODE BUS_URL RESULTS_DB LOG_PATH

``inbox``: handle ``work`` messages slowly; log each handling (at least once)
and record its side effect through a SQLiteInbox transaction (exactly once).
``poison``: log ``msg_id attempt`` per delivery; messages with ``poison`` fail.
"""

from __future__ import annotations

import asyncio
import os
import sys

from eventflux.bus import Message, open_bus
from eventflux.resilience import SQLiteInbox


async def main(mode: str, url: str, results: str, log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    bus = await open_bus(url)
    if mode == "inbox":
        inbox = SQLiteInbox(results)
        inbox.connection.execute("PRAGMA synchronous=NORMAL")

        async def handle(msg: Message) -> None:
            await asyncio.sleep(0.02)
            os.write(fd, f"{msg.msg_id}\n".encode())
            async with inbox.transaction(msg) as db:
                db.execute(
                    "INSERT INTO effects (msg_id, pid) VALUES (?, ?)", (msg.msg_id, os.getpid())
                )

        bus.subscribe(
            "work", handle, group="workers", concurrency=4, ack_wait=1.0, max_deliver=1000,
            backoff=(0.01, 0.1),
        )  # fmt: skip
    else:

        async def handle(msg: Message) -> None:
            os.write(fd, f"{msg.msg_id} {msg.attempt}\n".encode())
            if msg.data.get("poison"):
                raise ValueError("poison")

        bus.subscribe(
            "work", handle, group="workers", concurrency=16, max_deliver=3, backoff=(0.01, 0.05)
        )
    await bus.ready()
    os.write(fd, b"ready\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await bus.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))

"""A member process of the NATS fault tests (run as a script, not collected).

Usage: _member.py MODE BUS_URL LOG_PATH [RESULTS_DB]

``inbox``: handle ``work`` messages; log each handling (at least once) as
``msg_id``, and record the side effect through a SQLiteInbox transaction
(exactly once), with the message's key and number. ``poison``: log
``msg_id attempt`` per delivery; messages whose data says ``poison`` fail.
``plain``: log ``msg_id`` per handling. The process writes ``ready`` once its
member has joined, and closes the bus on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

from eventflux.bus import Message, open_bus
from eventflux.resilience import SQLiteInbox


async def main(mode: str, url: str, log_path: str, results: str | None) -> None:
    logging.basicConfig(level=logging.INFO, format=f"{os.getpid()} %(asctime)s %(message)s")
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    bus = await open_bus(url)
    if mode == "inbox":
        assert results is not None
        inbox = SQLiteInbox(results)
        inbox.connection.execute("PRAGMA synchronous=NORMAL")

        async def handle(msg: Message) -> None:
            await asyncio.sleep(0.02)
            os.write(fd, f"{msg.msg_id}\n".encode())
            async with inbox.transaction(msg) as db:
                db.execute(
                    "INSERT INTO effects (msg_id, k, n, pid, at) VALUES (?, ?, ?, ?, ?)",
                    (msg.msg_id, msg.key, msg.data["n"], os.getpid(), time.time()),
                )

        bus.subscribe(
            "work", handle, group="workers", concurrency=4, ack_wait=1.0, max_deliver=1000,
            backoff=(0.01, 0.1),
        )  # fmt: skip
    elif mode == "poison":

        async def handle(msg: Message) -> None:
            os.write(fd, f"{msg.msg_id} {msg.attempt}\n".encode())
            if msg.data.get("poison"):
                raise ValueError("poison")

        bus.subscribe(
            "work", handle, group="workers", concurrency=16, max_deliver=3, backoff=(0.01, 0.05)
        )
    else:

        async def handle(msg: Message) -> None:
            os.write(fd, f"{msg.msg_id}\n".encode())

        bus.subscribe("work", handle, group="workers", concurrency=32, ack_wait=2.0)
    await bus.ready()
    os.write(fd, b"ready\n")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await bus.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], args[3] if len(args) > 3 else None))

"""Child process of the SQLite race test (run with sys.executable).

``python _race_child.py URL`` reads commands from stdin, one per line:
``read`` prints the version of stream ``race``; ``append`` appends one event
at the version last read and prints ``won`` or ``lost`` (ConcurrencyError);
``quit`` ends. Each answer is one flushed line.
"""

from __future__ import annotations

import asyncio
import sys

from eventflux import ConcurrencyError, NewEvent, open_store


async def main(url: str) -> None:
    loop = asyncio.get_running_loop()
    async with await open_store(url) as store:
        version = 0
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "read":
                version = await store.stream_version("race")
                answer = str(version)
            elif command == "append":
                try:
                    await store.append("race", [NewEvent("Won", {})], expected_version=version)
                except ConcurrencyError:
                    answer = "lost"
                else:
                    answer = "won"
            else:
                return
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

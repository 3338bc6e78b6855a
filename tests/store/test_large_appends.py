"""Memory and the event loop under large appends: encoded payloads are kept
right-sized (a memory store of 100,000 small events stays under 100 MB), and
an append of 10,000 events (60 MB) never holds the event loop for more than
50 ms at a time, nor does reading them back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.store._loop import check_large_append

from eventflux.codec import Codec, fit

_MEMORY = textwrap.dedent(
    """
    import asyncio, gc, os
    from eventflux import NewEvent, open_store

    def rss_mb():
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

    async def main():
        async with await open_store("memory://") as store:
            gc.collect()
            before = rss_mb()
            for i in range(1000):
                await store.append(
                    f"sensor-{i % 100}",
                    [NewEvent("Measured", {"n": i * 100 + k, "c": 21.5}) for k in range(100)],
                )
            gc.collect()
            print(rss_mb() - before)
            assert len([e async for e in store.read_all()]) == 100_000

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_memory_store_keeps_100k_small_events_under_100_mb() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    grown = float(proc.stdout.strip())
    assert grown < 100, f"{grown:.0f} MB for 100,000 events"


def test_encoded_bytes_are_right_sized_copies() -> None:
    codec = Codec()
    data, _ = codec.encode_data("X", {"n": 1})
    assert data == b'{"n":1}'
    raw = b"x" * 10
    assert fit(raw) == raw
    big = b"x" * 100_000
    assert fit(big) is big  # large outputs waste little: kept as they are


@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/e.db"])
async def test_a_large_append_never_holds_the_event_loop_long(tmp_path: Path, url: str) -> None:
    await check_large_append(url.format(tmp=tmp_path))

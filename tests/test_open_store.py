"""open_store: URL schemes and options."""

from __future__ import annotations

import pytest

from eventflux import ConfigurationError, EventfluxError, open_store


@pytest.mark.asyncio
async def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        await open_store("mongodb://localhost/x")
    message = str(info.value)
    for scheme in ("memory://", "sqlite://", "postgresql://"):
        assert scheme in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, EventfluxError)


@pytest.mark.asyncio
async def test_memory_stores_are_fresh_and_options_checked() -> None:
    a = await open_store("memory://")
    b = await open_store("memory://")
    assert a is not b
    from eventflux import NewEvent

    await a.append("s", [NewEvent("X", {})])
    assert await b.stream_version("s") == 0
    small = await open_store("memory://?max_event_bytes=64")
    assert small.max_event_bytes == 64
    with pytest.raises(ConfigurationError, match="unknown option"):
        await open_store("memory://?colour=blue")
    with pytest.raises(ConfigurationError, match="integer"):
        await open_store("memory://?max_event_bytes=lots")
    with pytest.raises(ConfigurationError, match="twice"):
        await open_store("memory://?max_event_bytes=1&max_event_bytes=2")
    with pytest.raises(TypeError):
        await open_store(42)  # type: ignore[arg-type]

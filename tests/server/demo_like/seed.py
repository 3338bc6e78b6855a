"""The demo-like package's first data."""

from __future__ import annotations

from eventflux import App, NewEvent


async def seed(app: App) -> None:
    if await app.store.stream_version(f"seeded-{app.name}") == 0:
        await app.store.append(f"seeded-{app.name}", [NewEvent("Seeded", {})])

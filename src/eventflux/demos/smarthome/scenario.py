"""Placeholder replaced below."""
TITLE = "Smart home"


async def run(workdir):  # type: ignore[no-untyped-def]
    return []

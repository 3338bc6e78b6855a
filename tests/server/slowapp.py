"""An App whose handler takes a while: the graceful-stop test of ``eventflux
serve`` sends SIGTERM while it runs and checks that it finished."""

from __future__ import annotations

import asyncio

from eventflux import App, Context, Message, NewEvent

app = App("slowapp")


@app.subscribe("work.start", group="slow-workers")
async def work(msg: Message, ctx: Context) -> None:
    job = msg.data["job"]
    await ctx.store.append(f"job-{job}", [NewEvent("Started", {})])
    await asyncio.sleep(float(msg.data.get("seconds", 1.5)))
    await ctx.store.append(f"job-{job}", [NewEvent("Finished", {})])

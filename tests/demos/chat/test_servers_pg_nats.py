"""The chat over two ``eventflux serve`` processes on one PostgreSQL store
and one NATS JetStream bus (as across machines): a message crosses, presence
and typing cross over NATS, a reader resumes on the other process with
exactly what it missed, and a SIGKILLed process's members go offline."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
from tests.demos.chat._serve import ChatProcess, eventually
from tests.servers.nats import NatsServer, nats_server
from tests.servers.postgres import PostgresServer, pg_server

from eventflux.demos.chat import ChatClient

__all__ = ["nats_server", "pg_server"]

ENV = {
    "EVENTFLUX_CHAT_RATE": "100000",
    "EVENTFLUX_CHAT_BURST": "100000",
    "EVENTFLUX_CHAT_PRESENCE": "3",
}


@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.asyncio
async def test_two_processes_on_postgres_and_nats(
    tmp_path: Path, pg_server: PostgresServer, nats_server: NatsServer
) -> None:
    store = pg_server.url(schema="chat_" + uuid.uuid4().hex[:12])
    args = ("--store", store, "--bus", nats_server.url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ChatProcess(tmp_path / "a", *args, env=ENV)
    b = ChatProcess(tmp_path / "b", *args, env=ENV)
    with a, b:
        async with ChatClient(a.ws, "ann") as ann:
            bob = ChatClient([b.ws, a.ws], "bob", resume=False)
            await bob.connect()
            try:
                await ann.create("general")
                await ann.join("general")
                await bob.join("general")
                await ann.send("general", "through a")
                await bob.wait_until(lambda: bob.messages("general") == ["through a"])
                await bob.send("general", "through b")
                await ann.wait_until(lambda: ann.messages("general")[-1:] == ["through b"])
                view = ann.rooms["general"]
                await ann.wait_until(lambda: view.presence == {"ann": "online", "bob": "online"})
                await bob.typing("general")
                await ann.wait_until(lambda: view.typing == ["bob"])

                # bob goes away; the room goes on; bob resumes on the other process
                await bob.drop()
                await ann.wait_until(lambda: "bob" not in view.presence)
                for i in range(50):
                    await ann.send("general", f"missed {i}")
                await bob.connect()  # the next address: a
                assert bob.url == a.ws
                await bob.wait_until(lambda: len(bob.messages("general")) == 52)
                assert bob.messages("general")[2:] == [f"missed {i}" for i in range(50)]
                assert bob.duplicates == bob.gaps == 0
                await bob.drop()
                await ann.wait_until(lambda: "bob" not in view.presence)

                # cat on b, b killed: cat goes offline on a
                async with ChatClient(b.ws, "cat", resume=False) as cat:
                    await cat.join("general")
                    await ann.wait_until(lambda: "cat" in view.presence)
                    await eventually(lambda: a.stats()["peers"] != [], "a hears b")
                    b.stop(signal.SIGKILL)
                    await ann.wait_until(lambda: "cat" not in view.presence, within=30)
                    assert ("general", "cat", "offline") in ann.presence_log
            finally:
                await bob.close()

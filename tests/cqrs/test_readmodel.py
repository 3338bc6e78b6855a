"""The read-model API on every backend: units of work, the transaction handlers
write through, snapshots, ``:name`` parameters, URLs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from tests.cqrs._cqrs_domain import Ledger, codec, expected_balances, fill
from tests.cqrs._places import ReadPlace
from tests.cqrs._waits import poll_until

from eventflux import ConfigurationError, MissingExtraError, open_store
from eventflux.cqrs import ReadModel, UnitOfWork, open_read_model, read_model_url


@pytest.mark.asyncio
async def test_a_unit_of_work_commits_writes_and_checkpoint_together(
    model: ReadModel, place: ReadPlace
) -> None:
    assert await model.checkpoint("p") == 0  # nothing there yet
    assert await model.checkpoints() == {}
    async with model.unit_of_work("p") as uow:
        assert (uow.checkpoint, uow.is_new) == (0, True)
        uow.tx.script("CREATE TABLE t (x INTEGER); CREATE INDEX t_x ON t (x);")
        assert uow.tx.executemany("INSERT INTO t VALUES (:x)", [{"x": 1}, {"x": 2}]) == 2
        assert uow.tx.execute("UPDATE t SET x = x WHERE x > :n", {"n": 0}) == 2
        assert uow.tx.fetch_value("SELECT sum(x) FROM t") == 3
        assert uow.tx.fetch_one("SELECT x FROM t ORDER BY x") == {"x": 1}
        assert uow.tx.fetch_all("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]
        assert uow.tx.fetch_one("SELECT x FROM t WHERE x > :n", {"n": 5}) is None
        uow.checkpoint = 7
        assert await place.open().checkpoints() == {}  # readers see what is committed
    assert await model.checkpoint("p") == 7

    async def crash() -> None:
        async with model.unit_of_work("p") as uow:
            assert (uow.checkpoint, uow.is_new) == (7, False)
            uow.tx.execute("INSERT INTO t VALUES (100)")
            uow.checkpoint = 8
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        await crash()
    assert await model.checkpoint("p") == 7
    assert await model.fetch_all("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]
    assert await model.fetch_one("SELECT x FROM t WHERE x > :n", {"n": 5}) is None
    assert await model.fetch_value("SELECT x FROM t WHERE x > :n", {"n": 5}) is None
    async with model.unit_of_work("q") as uow:  # another projection: new, beside p
        assert (uow.checkpoint, uow.is_new) == (0, True)
    assert await model.checkpoints() == {"p": 7, "q": 0}
    assert await place.open().checkpoints() == {"p": 7, "q": 0}  # durable, for others


@pytest.mark.asyncio
async def test_run_unit_of_work_runs_whole_on_the_writer_thread(model: ReadModel) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def work(uow: UnitOfWork) -> int:
        seen.append(threading.get_ident())
        if uow.is_new:
            uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.tx.execute("INSERT INTO t VALUES (:x)", {"x": uow.checkpoint})
        uow.checkpoint += 1
        return uow.checkpoint

    assert await model.run_unit_of_work("p", work) == 1
    assert await model.run_unit_of_work("p", work) == 2
    assert seen[0] == seen[1] != loop_thread

    def failing(uow: UnitOfWork) -> None:
        uow.tx.execute("INSERT INTO t VALUES (99)")
        uow.checkpoint = 50
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await model.run_unit_of_work("p", failing)
    assert await model.checkpoint("p") == 2
    assert await model.fetch_value("SELECT count(*) FROM t") == 2

    # a cancellation while the work runs: the work is told (uow.cancelled), it
    # ends, and what it did is rolled back before the cancellation propagates
    running: list[UnitOfWork] = []
    release = threading.Event()

    def slow(uow: UnitOfWork) -> None:
        running.append(uow)
        release.wait(30)
        uow.tx.execute("INSERT INTO t VALUES (7)")
        uow.checkpoint = 3

    task = asyncio.create_task(model.run_unit_of_work("p", slow))
    await poll_until(lambda: running, "the work started")
    task.cancel()
    await poll_until(lambda: running[0].cancelled, "the work was told")
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await model.checkpoint("p") == 2
    assert await model.fetch_value("SELECT count(*) FROM t") == 2
    assert await model.run_unit_of_work("p", work) == 3  # and the model goes on


@pytest.mark.asyncio
async def test_a_cancelled_unit_of_work_on_the_loop_rolls_back(model: ReadModel) -> None:
    async with model.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.checkpoint = 3
    started = asyncio.Event()

    async def slow_batch() -> None:
        async with model.unit_of_work("p") as uow:
            uow.tx.execute("INSERT INTO t VALUES (1)")
            uow.checkpoint = 4
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow_batch())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await model.checkpoint("p") == 3
    assert await model.fetch_value("SELECT count(*) FROM t") == 0
    async with model.unit_of_work("p") as uow:  # the writer connection is usable again
        assert uow.checkpoint == 3
        uow.tx.execute("INSERT INTO t VALUES (2)")
        uow.checkpoint = 4
    assert (await model.checkpoint("p"), await model.fetch_value("SELECT sum(x) FROM t")) == (4, 2)


@pytest.mark.asyncio
async def test_snapshot_reads_one_committed_state(model: ReadModel) -> None:
    async with model.unit_of_work("p") as uow:
        uow.tx.script("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
    async with model.snapshot() as db:
        assert await db.fetch_value("SELECT count(*) FROM t") == 1
        async with model.unit_of_work("p") as uow:
            uow.tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetch_value("SELECT count(*) FROM t") == 1  # same snapshot
        assert await db.fetch_all("SELECT x FROM t") == [{"x": 1}]
        assert await db.fetch_one("SELECT x FROM t WHERE x = :x", {"x": 1}) == {"x": 1}
        assert await model.fetch_value("SELECT count(*) FROM t") == 2  # outside it
        async with model.snapshot() as other:  # several snapshots at once
            assert await other.fetch_value("SELECT count(*) FROM t") == 2
    for _ in range(6):  # connections go back for the next snapshots
        async with model.snapshot() as db:
            assert await db.fetch_value("SELECT count(*) FROM t") == 2


@pytest.mark.asyncio
async def test_parameters_are_named_placeholders_on_every_backend(model: ReadModel) -> None:
    async with model.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        uow.tx.execute(
            "INSERT INTO t VALUES (:k, :v) /* :not_a_parameter */", {"k": "a:b", "v": "50%"}
        )
        uow.tx.execute("INSERT INTO t VALUES ('c:d', '100%') -- :nor_this")  # no parameters
        with pytest.raises(TypeError, match=r"mapping for :name placeholders"):
            uow.tx.execute("INSERT INTO t VALUES (?, ?)", ("x", "y"))
        with pytest.raises(TypeError, match="mapping"):
            uow.tx.executemany("INSERT INTO t VALUES (:k, :v)", [("x", "y")])  # type: ignore[list-item]
    row = await model.fetch_one(
        "SELECT ':k' AS literal, v, k FROM t WHERE k = :k AND v LIKE :like",
        {"k": "a:b", "like": "5%"},
    )
    assert row == {"literal": ":k", "v": "50%", "k": "a:b"}
    rows = await model.fetch_all("SELECT k FROM t WHERE v LIKE '%0%' ORDER BY k", {})
    assert rows == [{"k": "a:b"}, {"k": "c:d"}]
    with pytest.raises(TypeError, match="mapping"):
        await model.fetch_all("SELECT k FROM t WHERE k = ?", ["a:b"])  # type: ignore[arg-type]
    async with model.snapshot() as db:
        assert await db.fetch_value("SELECT v FROM t WHERE k = :k", {"k": "c:d"}) == "100%"


@pytest.mark.asyncio
async def test_rebuild_models_are_the_only_ones_discarded(model: ReadModel) -> None:
    with pytest.raises(ConfigurationError, match="live"):
        await model.discard()
    with pytest.raises(TypeError, match="create_fresh"):
        async with model.unit_of_work("p", swap_in=object()):  # type: ignore[arg-type]
            pass
    fresh = await model.create_fresh("p")
    assert fresh.url != model.url
    async with fresh.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
    await fresh.discard()


@pytest.mark.asyncio
async def test_a_swap_needs_a_model_of_the_same_backend(
    model: ReadModel, tmp_path: pytest.TempPathFactory
) -> None:
    other = "postgresql://nobody@127.0.0.1:1/none" if model.url.startswith("sqlite") else None
    stranger = open_read_model(other or f"sqlite:///{tmp_path}/other.db")
    with pytest.raises(TypeError, match="swaps in another"):
        async with model.unit_of_work("p", swap_in=stranger):
            pass
    await model.close()


def test_open_read_model_picks_the_backend_by_url(tmp_path: pytest.TempPathFactory) -> None:
    model = open_read_model("sqlite:///data/read.db?durability=full&busy_timeout=5")
    assert (model.url, repr(model)) == (
        "sqlite:///data/read.db",
        "ReadModel('sqlite:///data/read.db')",
    )
    assert model.backend.file.durability == "full"  # type: ignore[attr-defined]
    spaced = open_read_model("sqlite:////abs/my%20read.db")
    assert spaced.url == "sqlite:////abs/my%20read.db"
    assert spaced.backend.path == "/abs/my read.db"  # type: ignore[attr-defined]
    pg = open_read_model("postgresql://app:secret@db.internal:6543/shop?schema=read")
    assert pg.url == "postgresql://app@db.internal:6543/shop?schema=read"  # no password
    assert "secret" not in repr(pg)
    for bad, message in (
        ("nosuch://x", "unknown read model URL scheme"),
        ("memory://?durability=full", "unknown option"),
        ("read.db", "sqlite:///read.db"),
        ("sqlite:///x.db?durability=fast", "durability"),
        ("sqlite:///x.db?colour=blue", "unknown option"),
        ("sqlite://host/x.db", "no host"),
        ("sqlite:///", "needs a file path"),
        ("postgresql://db/shop?schema=no;drop", "schema"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            open_read_model(bad)
    with pytest.raises(ConfigurationError, match="both in the read model URL"):
        open_read_model("sqlite:///x.db?durability=full", durability="normal")
    with pytest.raises(ConfigurationError, match="unknown setting"):
        open_read_model("sqlite:///x.db", schema="read")
    assert issubclass(MissingExtraError, ImportError)


def test_read_model_url_follows_the_event_store() -> None:
    assert read_model_url("sqlite:///data/shop-events.db", "shop-read") == (
        "sqlite:///data/shop-read.db"
    )
    assert read_model_url("sqlite:////srv/x/e.db", "r") == "sqlite:////srv/x/r.db"
    assert read_model_url("memory://", "r") == "memory://"  # as short-lived as the store
    assert read_model_url(
        "postgresql://app@db:5433/shop?schema=events&pool_max=4", "shop-read"
    ) == ("postgresql://app@db:5433/shop?schema=shop_read")
    for bad in ("", "1x", "a b", "x" * 52):
        with pytest.raises(ConfigurationError, match="read model name"):
            read_model_url("memory://", bad)
    with pytest.raises(ConfigurationError, match="beside a nats:// event store"):
        read_model_url("nats://localhost:4222", "r")


@pytest.mark.asyncio
async def test_a_memory_read_model_is_fresh_and_leaves_nothing_behind() -> None:
    first, second = open_read_model("memory://"), open_read_model("memory://")
    assert first.url == "memory://"
    async with first.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x INT)")
        uow.checkpoint = 7
    assert await first.checkpoint("p") == 7
    assert await first.exists()
    assert await second.checkpoint("p") == 0  # another, empty model
    folder = Path(first.backend.path).parent  # type: ignore[attr-defined]
    assert folder.is_dir()
    await first.close()
    await second.close()
    assert not folder.exists()


@pytest.mark.asyncio
async def test_a_checkpoint_keeps_the_id_of_its_store(place: ReadPlace) -> None:
    model = place.open()
    assert not await model.exists()
    assert await model.store_id("p") is None
    assert not await model.exists()  # looking created nothing
    if place.kind == "sqlite":
        assert not (place.folder / "read.db").exists()
    async with model.unit_of_work("p") as uow:
        assert uow.store_id is None  # a new checkpoint belongs to no store yet
        uow.store_id, uow.checkpoint = "store-a", 3
    async with model.unit_of_work("q"):
        pass  # a checkpoint that recorded no store
    assert await model.exists()
    assert await place.open().exists()  # for other handles too
    assert (await model.store_id("p"), await model.store_id("q")) == ("store-a", None)
    async with model.unit_of_work("p") as uow:
        assert (uow.checkpoint, uow.store_id) == (3, "store-a")


@pytest.mark.asyncio
async def test_a_read_model_made_before_store_ids_gets_the_column(place: ReadPlace) -> None:
    model = place.open()
    async with model.unit_of_work("p") as uow:
        uow.store_id, uow.checkpoint = "store-a", 5
    await model.close()
    await place.forget_store_ids()
    old = place.open()
    assert await old.store_id("p") is None  # reading an old model works, and changes nothing
    assert await old.checkpoints() == {"p": 5}
    async with old.unit_of_work("p") as uow:  # the writer adds the column
        assert (uow.checkpoint, uow.store_id) == (5, None)
        uow.store_id = "store-b"
    assert await place.open().store_id("p") == "store-b"


@pytest.mark.asyncio
async def test_a_memory_read_model_beside_a_memory_store_rebuilds() -> None:
    async with await open_store("memory://", codec=codec) as store:
        await fill(store, 30)
        model = open_read_model(read_model_url("memory://", "r"))
        try:
            ledger = Ledger(model)
            assert await ledger.catch_up(store) == 30
            async with model.unit_of_work("ledger") as uow:
                uow.tx.execute("DELETE FROM balances")  # damaged
            assert await ledger.rebuild(store) == 30
            rows = await model.fetch_all("SELECT account, balance FROM balances")
            assert {r["account"]: r["balance"] for r in rows} == expected_balances(30)
        finally:
            await model.close()

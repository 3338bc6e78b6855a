"""``eventflux projections status|run|rebuild`` against the wrong store: refused
with a message and exit code 2, and nothing changed; ``rebuild --force`` is the
one way to rebuild a read model from another store or to empty it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import typer
from click.testing import Result
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.projections import register
from eventflux.cqrs import open_read_model
from eventflux.demos import shop

ROOT = Path(__file__).resolve().parents[2]
SHOP = "eventflux.demos.shop:app"


def _cli(*args: str) -> Result:
    app = typer.Typer()
    register(app)
    app.command()(lambda: None)  # a second command keeps "projections" a sub-command
    return CliRunner().invoke(app, ["projections", *args, "--app", SHOP], terminal_width=200)


def _refused(result: Result, *phrases: str) -> None:
    """A clean refusal: exit code 2, the message, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ") or "\nerror: " in result.output
    for phrase in phrases:
        assert phrase in result.output, result.output


async def _fill(url: str, count: int) -> str:
    """Append ``count`` events no shop projection handles (the store is created
    if missing); returns the store's id."""
    async with await open_store(url) as store:
        if count:
            await store.append("audit-1", [NewEvent("Audited", {"n": n}) for n in range(count)])
        return await store.store_id()


async def _catalogue(read: Path) -> tuple[int, int, str | None]:
    """The live catalogue: products, checkpoint, store id."""
    model = open_read_model(f"sqlite:///{read}")
    try:
        products = int(await model.fetch_value("SELECT count(*) FROM products"))
        return (
            products,
            await model.checkpoint("shop-catalog"),
            await model.store_id("shop-catalog"),
        )
    finally:
        await model.close()


def _forget_store_ids(read: Path) -> None:
    """Make the read model look like one made before read models kept store ids."""
    conn = sqlite3.connect(read)
    try:
        conn.execute("ALTER TABLE eventflux_checkpoints DROP COLUMN store_id")
        conn.commit()
    finally:
        conn.close()


def test_another_store_is_refused_by_every_command_and_nothing_changes(tmp_path: Path) -> None:
    asyncio.run(shop.run(tmp_path))
    shop_url, read = f"sqlite:///{tmp_path}/shop-events.db", tmp_path / "shop-read.db"
    shop_id = asyncio.run(_fill(shop_url, 0))
    assert asyncio.run(_catalogue(read)) == (12, 22, shop_id)
    # another store whose read model, by the App's rule, is the same shop-read.db
    other = f"sqlite:///{tmp_path}/other-events.db"
    other_id = asyncio.run(_fill(other, 30))
    for command in ("status", "run", "rebuild"):
        result = _cli(command, "shop-catalog", "--store", other)
        _refused(result, "was built from the event store", shop_id, other_id, "--force")
        assert asyncio.run(_catalogue(read)) == (12, 22, shop_id), command
    assert [p.name for p in tmp_path.iterdir() if "rebuild" in p.name] == []

    result = _cli("status", "shop-catalog", "--store", shop_url)  # its own store still works
    assert result.exit_code == 0, result.output
    result = _cli("rebuild", "shop-catalog", "--store", other, "--force")
    assert result.exit_code == 0, result.output
    assert "30 events replayed and swapped in; checkpoint 30, lag 0" in result.output
    assert asyncio.run(_catalogue(read)) == (0, 30, other_id)  # forced: now the other's
    _refused(_cli("status", "shop-catalog", "--store", shop_url), "was built from")


def test_a_checkpoint_beyond_the_head_is_an_error_not_lag_0(tmp_path: Path) -> None:
    asyncio.run(shop.run(tmp_path))
    shop_url, read = f"sqlite:///{tmp_path}/shop-events.db", tmp_path / "shop-read.db"

    async def back_up() -> None:
        async with await open_store(shop_url) as store:
            await store.backup(tmp_path / "backup.db")

    asyncio.run(back_up())
    shop_id = asyncio.run(_fill(shop_url, 3))
    result = _cli("rebuild", "shop-catalog", "--store", shop_url)
    assert "checkpoint 25, lag 0" in result.output, result.output
    # the store is restored from the backup: events 23-25 are gone, the model has them
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path}/shop-events.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "shop-events.db")
    for command in ("status", "run"):
        result = _cli(command, "shop-catalog", "--store", shop_url)
        _refused(result, "up to position 25", "the event store ends at 22", "Rebuild")
        assert "lag" not in result.output
        assert asyncio.run(_catalogue(read)) == (12, 25, shop_id), command
    result = _cli("rebuild", "shop-catalog", "--store", shop_url)  # the repair
    assert result.exit_code == 0, result.output
    assert "22 events replayed and swapped in; checkpoint 22, lag 0" in result.output
    assert asyncio.run(_catalogue(read)) == (12, 22, shop_id)


def test_an_empty_rebuild_over_the_live_catalogue_needs_force(tmp_path: Path) -> None:
    asyncio.run(shop.run(tmp_path))
    read = tmp_path / "shop-read.db"
    empty = f"sqlite:///{tmp_path}/typo-events.db"
    empty_id = asyncio.run(_fill(empty, 0))  # an empty store that exists
    _refused(_cli("rebuild", "shop-catalog", "--store", empty), "was built from the event store")
    # a catalogue made before read models kept store ids: only the emptiness refuses
    _forget_store_ids(read)
    for attempt in range(2):
        result = _cli("rebuild", "shop-catalog", "--store", empty)
        _refused(result, "would swap an empty model in", "up to position 22", "--force")
        assert asyncio.run(_catalogue(read)) == (12, 22, None), attempt
    assert [p.name for p in tmp_path.iterdir() if "rebuild" in p.name] == []
    result = _cli("rebuild", "shop-catalog", "--store", empty, "--force")
    assert result.exit_code == 0, result.output
    assert "0 events replayed and swapped in; checkpoint 0, lag 0" in result.output
    assert asyncio.run(_catalogue(read)) == (0, 0, empty_id)


def test_a_catalogue_made_before_store_ids_adopts_its_store_on_first_run(tmp_path: Path) -> None:
    asyncio.run(shop.run(tmp_path))
    shop_url, read = f"sqlite:///{tmp_path}/shop-events.db", tmp_path / "shop-read.db"
    shop_id = asyncio.run(_fill(shop_url, 0))
    other = f"sqlite:///{tmp_path}/other-events.db"
    asyncio.run(_fill(other, 30))  # beyond the checkpoint: only a store id can tell
    _forget_store_ids(read)
    result = _cli("status", "shop-catalog", "--store", shop_url)
    assert result.exit_code == 0, result.output
    assert asyncio.run(_catalogue(read)) == (12, 22, None)  # looking adopts nothing

    args = ["projections", "run", "shop-catalog", "--app", SHOP, "--store", shop_url]
    child = subprocess.Popen(
        [sys.executable, "-m", "eventflux.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(_catalogue(read))[2] != shop_id:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the first run did not record its store"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err.decode()
    assert "stopped shop-catalog" in out.decode()
    assert asyncio.run(_catalogue(read)) == (12, 22, shop_id)
    _refused(_cli("status", "shop-catalog", "--store", other), "was built from the event store")
    _refused(_cli("run", "shop-catalog", "--store", other), "was built from the event store")
    assert asyncio.run(_catalogue(read)) == (12, 22, shop_id)


def test_rebuild_refuses_a_read_model_that_does_not_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop-events.db"
    asyncio.run(_fill(url, 5))
    _refused(_cli("rebuild", "shop-catalog", "--store", url), "there is no read model", "nothing")
    result = _cli("status", "shop-catalog", "--store", url)
    assert result.exit_code == 0, result.output
    assert "(not created)" in result.output
    assert not (tmp_path / "shop-read.db").exists()  # neither command created it

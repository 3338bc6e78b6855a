"""Which event store a read model belongs to: the checks a projection makes before
it applies, rebuilds or reports anything.

A checkpoint is a position in one event store. Each one records the id of its
store (:meth:`~eventflux.EventStore.store_id`); a projection asked to follow
another store refuses (:class:`~eventflux.WrongStoreError`), and one whose
checkpoint is beyond its store's head refuses too
(:class:`~eventflux.CheckpointAheadError`): the store lost events, and a lag
of 0 would hide it. A checkpoint that recorded no store (a read model made
before store ids, or a new one) is claimed by the first unit of work that
applies events from a store.

Example::

    store_id = await checked_store_id(store, model, "ledger")
    async with model.unit_of_work("ledger") as uow:
        claim(uow, "ledger", model.url, store_id)
        ...
"""

from __future__ import annotations

from ..exceptions import CheckpointAheadError, UnsafeRebuildError, WrongStoreError
from ..store import EventStore
from .readmodel import ReadModel, UnitOfWork

__all__ = ["checked_store_id", "claim", "unsafe_rebuild", "wrong_store"]


def wrong_store(name: str, model_url: str, recorded: str, given: str) -> WrongStoreError:
    """The error for projection ``name``'s model, built from ``recorded``, given ``given``."""
    return WrongStoreError(
        f"the read model of projection {name!r} ({model_url}) was built from the event "
        f"store {recorded}, not from this one ({given}): its checkpoint is a position of "
        "the other store. Point it at its own store, or rebuild it from this one with "
        "rebuild(store, force=True) (eventflux projections rebuild --force)"
    )


def unsafe_rebuild(name: str, model_url: str, live: int) -> UnsafeRebuildError:
    """The error for a rebuild of ``name`` that found no events while the live
    model has applied them up to ``live``."""
    return UnsafeRebuildError(
        f"the event store has no events for projection {name!r}, but its live read "
        f"model ({model_url}) has applied events up to position {live}: the rebuild "
        "would swap an empty model in. Check the store URL; to empty the model anyway, "
        "rebuild with force=True (eventflux projections rebuild --force)"
    )


def claim(uow: UnitOfWork, name: str, model_url: str, store_id: str) -> None:
    """Check, in the unit of work that holds the checkpoint, that it belongs to
    ``store_id`` (or to no store yet), and record that it does: whatever other
    runners or rebuilds did since the projection started, it never applies
    events of one store over another's checkpoint."""
    if uow.store_id is not None and uow.store_id != store_id:
        raise wrong_store(name, model_url, uow.store_id, store_id)
    uow.store_id = store_id


async def checked_store_id(
    store: EventStore, model: ReadModel, name: str, *, ahead: bool = True
) -> str:
    """``store``'s id, once projection ``name``'s checkpoint in ``model`` may
    follow it: recorded from this store (or from none yet) and, with
    ``ahead``, not beyond the store's head."""
    store_id = await store.store_id()
    recorded = await model.store_id(name)
    if recorded is not None and recorded != store_id:
        raise wrong_store(name, model.url, recorded, store_id)
    checkpoint = await model.checkpoint(name)
    if checkpoint and ahead:
        head = await store.head_position()
        if checkpoint > head:
            raise CheckpointAheadError(
                f"projection {name!r} has applied events up to position {checkpoint}, but "
                f"the event store ends at {head}: the store lost events (a restored "
                "backup?) or is not the one this read model was built from. Rebuild the "
                "projection (eventflux projections rebuild) once the store is the right one"
            )
    return store_id

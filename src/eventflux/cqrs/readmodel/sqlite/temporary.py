"""``memory://`` read models: a fresh SQLite file in a temporary folder of its own,
removed when the model closes.

A read model beside a ``memory://`` event store: the store lives as long as its
process, so its read model does too (a file left behind would hold positions
of a store that no longer exists). Each ``open_read_model("memory://")`` is a
new, empty model, as each ``open_store("memory://")`` is a new store.

Example::

    model = open_read_model("memory://")
    ...
    await model.close()   # its folder is gone
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from ...._internal.urls import reject_unknown_options
from ....exceptions import ConfigurationError
from .backend import SQLiteReadModelBackend

__all__ = ["TemporaryReadModelBackend"]


class TemporaryReadModelBackend(SQLiteReadModelBackend):
    """A read model in a SQLite file of a temporary folder, removed on close."""

    @classmethod
    def from_url(
        cls, url: SplitResult, options: dict[str, str], **settings: Any
    ) -> TemporaryReadModelBackend:
        """``memory://`` takes no options."""
        reject_unknown_options(options, "memory")
        if settings:
            raise ConfigurationError(
                f"a memory:// read model takes no settings, not {', '.join(sorted(settings))}"
            )
        folder = tempfile.mkdtemp(prefix="eventflux-read-")
        return cls(Path(folder) / "read.db")

    @property
    def url(self) -> str:
        return "memory://"

    def __repr__(self) -> str:
        return "TemporaryReadModelBackend()"

    async def close(self) -> None:
        await super().close()
        if not self.file.scratch:
            shutil.rmtree(Path(self.file.path).parent, ignore_errors=True)

"""Ambient event metadata for the event-sourcing layer: the one context of
:mod:`eventflux.context`, re-exported where repositories and command buses
look for it.

Example::

    with metadata_context(user="ann", reason="monthly fee", correlation_id="req-7"):
        await accounts.save(account)        # events carry user, reason, correlation_id
"""

from __future__ import annotations

from ..context import current_metadata, metadata_context

__all__ = ["current_metadata", "metadata_context"]

"""The query bus: one handler per query type; handlers read read models only.

Example::

    queries = QueryBus()

    @queries.handler(GetProduct)
    def get_product(query: GetProduct) -> dict | None:
        return catalog.fetch_one("SELECT * FROM products WHERE sku = ?", (query.sku,))

    product = await queries.dispatch(GetProduct("mug-1"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..es.context import metadata_context
from .dispatcher import Dispatcher

__all__ = ["QueryBus"]


class QueryBus(Dispatcher):
    """Routes queries (requests to read state) to their handlers.

    Same shape as :class:`~eventflux.cqrs.CommandBus`; a query never changes
    state, so its handlers read read models (or, for audits and time travel,
    the event store) and write nothing.
    """

    kind: ClassVar[str] = "query"

    async def dispatch(self, query: object, *, metadata: Mapping[str, Any] | None = None) -> Any:
        """Run ``query`` through the middleware and its handler; return the answer.

        ``metadata`` (e.g. the user, for an authorization middleware) is
        visible to the middleware through :func:`~eventflux.es.current_metadata`.
        """
        chain = self._chain_for(type(query))
        if not metadata:
            return await chain(query)
        with metadata_context(metadata):
            return await chain(query)

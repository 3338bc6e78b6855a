"""The hub's web page (``/demos/smarthome/``), served by ``eventflux serve``.

``/`` is the page: a tile per device (updated live), buttons that publish
commands and simulator controls through the server's ``POST
/api/publish/{subject}``, the automations with their last run and its trace
(and a link to the dashboard's causal chain), the notifications, and the
intruder and power-failure switches. Its script reads ``/state`` (JSON) a few
times a second, ``/run?run_id=`` for a run's trace and ``/explain?entity_id=``
for why a device is in its state.

Example::

    install_page(app)     # make_app does it
"""

from __future__ import annotations

from typing import Any

from ...app import App
from ...exceptions import EventfluxError
from .queries import Explain, GetRun, ListAutomations, ListDevices, ListNotifications

__all__ = ["install_page"]


def _query(request: Any) -> Any:
    return getattr(request, "query_params", {}) or {}


def install_page(app: App) -> None:
    """Register the page and its JSON views on the hub App."""

    async def state(app: App, request: Any = None) -> dict[str, Any]:
        try:
            view: dict[str, Any] = {
                "devices": await app.ask(ListDevices()),
                "automations": await app.ask(ListAutomations()),
                "notifications": await app.ask(ListNotifications(12)),
            }
        except EventfluxError as e:
            view = {"error": f"{type(e).__name__}: {e}"}
        return {"state": view}

    async def run(app: App, request: Any = None) -> dict[str, Any]:
        run_id = str(_query(request).get("run_id", ""))
        found = await app.ask(GetRun(run_id)) if run_id else None
        return {"state": found or {"error": f"no run {run_id!r}"}}

    async def why(app: App, request: Any = None) -> dict[str, Any]:
        entity_id = str(_query(request).get("entity_id", ""))
        answer = await app.ask(Explain(entity_id))
        return {
            "state": {
                "entity_id": entity_id,
                "lines": answer.lines,
                "correlation_id": answer.correlation_id,
            }
        }

    app.page("/", "smarthome.html")
    app.page("/state", "smarthome-state.json", context=state)
    app.page("/run", "smarthome-state.json", context=run)
    app.page("/explain", "smarthome-state.json", context=why)

"""Demo: the founding document's bank, event-sourced, with CQRS, as an App.

``eventflux.demos.bank:app`` is the App (``eventflux worker`` / ``eventflux
serve`` run it); :func:`make_app` builds one on other URLs; :func:`run` is the
scripted tour of ``eventflux demo bank``.
"""

from __future__ import annotations

from .app import (
    AccountsView,
    AuditEntry,
    Deposit,
    GetAuditTrail,
    GetBalance,
    ListAccounts,
    OpenAccount,
    Transfer,
    Withdraw,
    make_app,
)
from .scenario import TITLE, remove_databases, run

__all__ = [
    "TITLE",
    "AccountsView",
    "AuditEntry",
    "Deposit",
    "GetAuditTrail",
    "GetBalance",
    "ListAccounts",
    "OpenAccount",
    "Transfer",
    "Withdraw",
    "app",
    "make_app",
    "remove_databases",
    "run",
]

#: The bank App on the default URLs ($EVENTFLUX_STORE / $EVENTFLUX_BUS, else SQLite files).
app = make_app()

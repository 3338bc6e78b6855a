"""Shared infrastructure, written once and used by every port and backend.

Nothing here is public API: ``urls`` (URL and option parsing, the one SQLite
path rule, backend lookup), ``ids`` (event, message and command ids with one
fork hook), ``sentinels`` and ``retrying`` (waiting out a store or bus
outage).
"""

"""``python -m eventflux.cqrs NAME --store URL``: run a projection in this process."""

from __future__ import annotations

from .runner import main

raise SystemExit(main())

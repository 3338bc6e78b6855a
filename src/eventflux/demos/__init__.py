"""Runnable demos: each module exposes TITLE and run(workdir) -> list[str]."""

"""A package shaped like a demo with several Apps (no ``app`` attribute): the
serve tests look it up as ``eventflux serve`` looks up the demos."""

from __future__ import annotations

from eventflux import App

demo_like = App("demo_like")
helper = App("demo_like_helper")
SERVICES = {"demo_like": demo_like, "helper": helper}  # the same Apps again: once each

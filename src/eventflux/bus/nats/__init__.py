"""The NATS JetStream bus backend (``nats://host:4222``, the ``nats`` extra):
:class:`NatsBusBackend`.

The package: :mod:`.backend` (publish, join, dead letters, checkpoints),
:mod:`.member` (one member: pulling, buffering, settling), :mod:`.ownership`
(key partitions and their leases), :mod:`.puller`, :mod:`.publisher`,
:mod:`.groups` (the JetStream consumers of a group), :mod:`.meta` (the small
key-value stream), :mod:`.letters`, :mod:`.inbox`, :mod:`.wire` (subjects and
headers), :mod:`.settings` (the URL and the streams), :mod:`.context` (what a
handle's members share) and :mod:`.errors`.
"""

from .backend import NatsBusBackend

__all__ = ["NatsBusBackend"]

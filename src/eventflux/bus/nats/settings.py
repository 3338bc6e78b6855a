"""Settings of the NATS bus from its URL, and the JetStream streams it uses.

URL: ``nats://[user:password@]host[:port][,host2[:port2]...]?option=value``.
Options (all optional):

=================  =========================================================
``stream``         the JetStream stream of the bus (default ``EVENTFLUX``)
``prefix``         the subject prefix of its messages (default: the stream name)
``replicas``       stream replicas in a cluster, 1 to 5 (default 1)
``partitions``     key partitions per group (default 8; fixed at creation)
``dedup_window``   publish dedup window in seconds (default 120)
``storage``        ``file`` (default) or ``memory``
``retention``      ``interest`` (default: a message is removed once every
                   group has settled it) or ``limits`` (kept until ``max_age``)
``max_age``        seconds a message is kept at most (default: no limit)
``timeout``        seconds to wait for the server's answers (default 10)
=================  =========================================================

Beside the stream ``<stream>`` (subjects ``<prefix>.>``) the bus keeps a
small stream ``<stream>_META`` (subjects ``<prefix>_meta.>``, one message per
subject) for dead letters, partition leases, members, handler-run counts,
the inbox and checkpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, unquote

import nats.errors
import nats.js.errors
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from ..._internal.urls import choice_option, float_option, int_option, reject_unknown_options
from ...exceptions import BusUnavailableError, ConfigurationError
from ..backend import DEFAULT_DEDUP_WINDOW
from ..subjects import validate_subject

__all__ = ["NatsSettings", "ensure_streams", "parse_settings"]

_NAME: Final = re.compile(r"[A-Za-z0-9_-]+")
PARTITIONS_META: Final = "eventflux.partitions"
PREFIX_META: Final = "eventflux.prefix"


@dataclass(frozen=True, slots=True)
class NatsSettings:
    """Everything the URL says, validated."""

    servers: list[str]
    user: str | None
    password: str | None
    stream: str
    prefix: str
    replicas: int
    partitions: int
    dedup_window: float
    storage: str
    retention: str
    max_age: float
    timeout: float
    explicit: frozenset[str]

    @property
    def meta_stream(self) -> str:
        return f"{self.stream}_META"

    @property
    def meta_prefix(self) -> str:
        return f"{self.prefix}_meta"


def parse_settings(url: SplitResult, options: dict[str, str]) -> NatsSettings:
    """Read and check the URL; unknown options are an error."""
    explicit = frozenset(options)
    netloc = url.netloc
    user = password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user_part, _, pass_part = auth.partition(":")
        user = unquote(user_part) or None
        password = unquote(pass_part) if pass_part else None
    hosts = [h.strip() for h in netloc.split(",") if h.strip()] or ["127.0.0.1:4222"]
    servers = [f"nats://{h}" if ":" in h.rsplit("]", 1)[-1] else f"nats://{h}:4222" for h in hosts]
    stream = options.pop("stream", "EVENTFLUX")
    if _NAME.fullmatch(stream) is None:
        raise ConfigurationError(f"stream name {stream!r} must match [A-Za-z0-9_-]+")
    prefix = options.pop("prefix", stream)
    try:
        validate_subject(prefix)
    except ValueError as e:
        raise ConfigurationError(f"URL option prefix={prefix!r} is not a valid subject: {e}") from e
    replicas = int_option(options, "replicas", 1)
    if replicas > 5:
        raise ConfigurationError(f"URL option replicas={replicas} must be between 1 and 5")
    partitions = int_option(options, "partitions", 8)
    if partitions > 1024:
        raise ConfigurationError(f"URL option partitions={partitions} must be at most 1024")
    dedup = float_option(options, "dedup_window", DEFAULT_DEDUP_WINDOW)
    storage = choice_option(options, "storage", "file", ("file", "memory"))
    retention = choice_option(options, "retention", "interest", ("interest", "limits"))
    max_age = float_option(options, "max_age", 0.0) if "max_age" in options else 0.0
    timeout = float_option(options, "timeout", 10.0)
    reject_unknown_options(options, "nats")
    return NatsSettings(
        servers,
        user,
        password,
        stream,
        prefix,
        replicas,
        partitions,
        dedup,
        storage,
        retention,
        max_age,
        timeout,
        explicit,
    )


async def ensure_streams(js: Any, s: NatsSettings, *, atomic: bool = True) -> NatsSettings:
    """Create the bus's two streams if missing; return the settings the existing
    stream was created with (partitions and prefix are fixed at creation).

    An existing stream keeps its settings, except that an explicit
    ``dedup_window`` updates its duplicate window.
    """
    storage = StorageType.FILE if s.storage == "file" else StorageType.MEMORY
    interest = s.retention == "interest"
    retention = RetentionPolicy.INTEREST if interest else RetentionPolicy.LIMITS
    try:
        try:
            info = await js.stream_info(s.stream)
        except nats.js.errors.NotFoundError:
            info = None
        if info is None:
            config = StreamConfig(
                name=s.stream,
                description="eventflux message bus",
                subjects=[f"{s.prefix}.>"],
                retention=retention,
                storage=storage,
                num_replicas=s.replicas,
                duplicate_window=s.dedup_window,
                max_age=s.max_age or None,
                allow_atomic=atomic or None,
                metadata={PREFIX_META: s.prefix, PARTITIONS_META: str(s.partitions)},
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                info = await js.stream_info(s.stream)  # created meanwhile by another process
        if info is not None:
            s = _adopt(info.config, s)
            if "dedup_window" in s.explicit and info.config.duplicate_window != s.dedup_window:
                info.config.duplicate_window = s.dedup_window
                await js.update_stream(info.config)
        try:
            await js.stream_info(s.meta_stream)
        except nats.js.errors.NotFoundError:
            meta = StreamConfig(
                name=s.meta_stream,
                description="eventflux message bus: dead letters, leases, checkpoints",
                subjects=[f"{s.meta_prefix}.>"],
                storage=storage,
                num_replicas=s.replicas,
                max_msgs_per_subject=1,
                allow_msg_ttl=True,
                allow_direct=True,
            )
            try:
                await js.add_stream(meta)
            except nats.js.errors.BadRequestError:
                await js.stream_info(s.meta_stream)
    except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError) as e:
        raise BusUnavailableError(
            "JetStream is not available on this NATS server; start nats-server with -js "
            f"(JetStream enabled): {e}"
        ) from e
    except nats.errors.TimeoutError as e:
        raise BusUnavailableError(f"the NATS server did not answer in time: {e}") from e
    except nats.js.errors.APIError as e:
        raise BusUnavailableError(f"setting up the stream {s.stream!r} failed: {e}") from e
    return s


def _adopt(config: Any, s: NatsSettings) -> NatsSettings:
    meta = config.metadata or {}
    if PREFIX_META not in meta or PARTITIONS_META not in meta:
        raise ConfigurationError(
            f"the JetStream stream {s.stream!r} exists but was not created by an eventflux bus; "
            "choose another name with ?stream=..."
        )
    prefix, partitions = meta[PREFIX_META], int(meta[PARTITIONS_META])
    for name, wanted, actual in (
        ("prefix", s.prefix, prefix),
        ("partitions", str(s.partitions), str(partitions)),
    ):
        if name in s.explicit and wanted != actual:
            raise ConfigurationError(
                f"the stream {s.stream!r} was created with {name}={actual}; "
                f"it cannot be changed to {wanted}"
            )
    window = s.dedup_window if "dedup_window" in s.explicit else float(config.duplicate_window)
    return NatsSettings(
        s.servers,
        s.user,
        s.password,
        s.stream,
        prefix,
        s.replicas,
        partitions,
        window,
        s.storage,
        s.retention,
        s.max_age,
        s.timeout,
        s.explicit,
    )

"""Serialization of event data and metadata, the event-type registry, upcasters.

Data is stored as JSON. Plain mappings round-trip as dicts; instances of a
registered class (dataclass, ``msgspec.Struct`` or pydantic model) are encoded
from and decoded back into that class. Each registered type has a schema
version; upcasters turn older stored shapes into the current one, step by
step, when they are read.

One rule for what plain data (a mapping, metadata, a message's payload and
headers) may hold, the same for the store and the bus: JSON values only, so
that what is read back equals what was written. That is str, int (64 bits),
float (finite), bool, None, lists and tuples (read back as lists), and dicts
with str keys; subclasses of these (``StrEnum``, ``IntEnum``) and enum members
are written as their value. Everything else is refused with
:class:`~eventflux.SerializationError` (a ``TypeError``) naming where it is:
UUIDs, datetimes, dates and times, Decimals, bytes, sets, other objects. Write
``str(uuid)`` or ``when.isoformat()`` yourself, or register an event class:
its typed fields (``datetime``, ``UUID``, ``Decimal``...) are encoded and
decoded back into those types.

Example::

    codec = Codec()

    @codec.register("Deposited", version=2)
    @dataclass
    class Deposited:
        amount: int
        currency: str

    @codec.upcaster("Deposited", from_version=1)
    def add_currency(old: dict) -> dict:
        return {**old, "currency": "EUR"}
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, TypeVar
from uuid import UUID

import msgspec
import orjson

from .exceptions import (
    ArgumentTypeError,
    ConfigurationError,
    DeserializationError,
    InvalidArgumentError,
    SerializationError,
)

__all__ = ["Codec", "EventClass", "default_codec", "dumps", "fit", "loads", "register_event"]

T = TypeVar("T")
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_DUMP_OPTIONS: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_EMPTY: Final = b""
#: How orjson writes a UUID object (a str holding one looks the same: then the
#: value is walked to tell them apart).
_UUID_TEXT: Final = re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')
_FIT_BELOW: Final = 64 * 1024
#: The largest schema version of a registered class (stores keep it in 32 bits).
MAX_SCHEMA_VERSION: Final = 2**31 - 1


def _default(obj: Any) -> Any:
    # Subclasses of the JSON builtins are accepted as their base value.
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, list | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-compatible")


def _check_no_uuid(value: Any, path: str) -> None:
    """Refuse UUID objects, which orjson would write as text (read back as str)."""
    if _holds_uuid(value):
        _find_uuid(value, path)


_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _holds_uuid(value: Any) -> bool:
    """Whether ``value`` holds a UUID object anywhere: a walk that builds no paths,
    since text that looks like a UUID (correlation ids...) is common and fine."""
    kind = type(value)
    if kind in _PLAIN:
        return False
    if kind is dict:
        for v in value.values():  # noqa: SIM110 - no generator on the hot path
            if type(v) not in _PLAIN and _holds_uuid(v):
                return True
        return False
    if isinstance(value, UUID):
        return True
    if isinstance(value, Mapping):
        return any(_holds_uuid(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_uuid(v) for v in value)
    return False


def _find_uuid(value: Any, path: str) -> None:
    """Raise for the first UUID object in ``value``, naming where it is."""
    if isinstance(value, UUID):
        raise SerializationError(
            f"{path} is a UUID, which is not JSON: it would be read back as a str. "
            "Write str(value), or register an event class with a UUID field"
        )
    if isinstance(value, Mapping):
        for k, v in value.items():
            _find_uuid(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _find_uuid(v, f"{path}[{i}]")


def _check_finite(value: Any, path: str = "$") -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}: NaN and infinities are not JSON")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]")


def fit(raw: bytes) -> bytes:
    """``raw`` in a block of its own size. orjson returns small outputs in a
    buffer of at least 4 KiB: kept as they are (a memory store, a bus queue),
    100,000 small events would hold over 400 MB. Larger outputs waste little."""
    return bytes(memoryview(raw)) if len(raw) < _FIT_BELOW else raw


def dumps(value: Any, *, what: str = "data") -> bytes:
    """Encode a JSON-compatible value strictly: str keys only, no NaN or infinity.

    Raises :class:`SerializationError` (a ``TypeError``) naming what failed.
    The bytes are right-sized (see :func:`fit`): callers may keep them.
    """
    try:
        out = orjson.dumps(value, default=_default, option=_DUMP_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise SerializationError(f"{what} is not JSON-compatible: {e}") from e
    # orjson writes NaN and infinities as null, and UUIDs as text; only when its
    # output holds such a thing is a walk of the value needed.
    if b"null" in out:
        _check_finite(value, what)
    if _UUID_TEXT.search(out) is not None:
        _check_no_uuid(value, what)
    return fit(out)


def loads(raw: bytes | str) -> Any:
    """Decode JSON bytes produced by :func:`dumps`."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise DeserializationError(f"stored JSON cannot be decoded: {e}") from e


class EventClass:
    """How one registered class is encoded and decoded."""

    __slots__ = ("_from_dict", "cls", "decode", "encode", "name", "to_dict", "version")

    def __init__(self, cls: type[Any], name: str, version: int) -> None:
        self.cls = cls
        self.name = name
        self.version = version
        if hasattr(cls, "model_validate") and hasattr(cls, "model_dump"):  # pydantic v2
            self.to_dict: Callable[[Any], Any] = lambda o: o.model_dump(mode="json")
            self.encode: Callable[[Any], bytes] = lambda o: dumps(
                o.model_dump(mode="json"), what=name
            )
            self.decode: Callable[[bytes], Any] = cls.model_validate_json
            self._from_dict: Callable[[Any], Any] = cls.model_validate
        elif dataclasses.is_dataclass(cls) or issubclass(cls, msgspec.Struct):
            decoder = msgspec.json.Decoder(cls)
            self.to_dict = msgspec.to_builtins
            self.encode = lambda o: dumps(msgspec.to_builtins(o), what=name)
            self.decode = decoder.decode
            self._from_dict = lambda d: msgspec.convert(d, cls)
        else:
            raise ArgumentTypeError(
                f"cannot register {cls!r}: event classes must be dataclasses, "
                "msgspec Structs or pydantic models"
            )

    def from_dict(self, data: Any) -> Any:
        return self._from_dict(data)


class Codec:
    """Encodes event data and metadata; maps type names to registered classes.

    Each store has a codec (by default :data:`default_codec`, shared by the
    process). Reading an event whose type is registered returns an instance of
    its class, upcast from the stored schema version first; other events come
    back as dicts.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, EventClass] = {}
        self._by_cls: dict[type[Any], EventClass] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    # -- registry ---------------------------------------------------------------
    def register(
        self, name: str | None = None, *, version: int = 1
    ) -> Callable[[type[T]], type[T]]:
        """Register a class as the shape of the event type ``name`` (default: the
        class name) at schema ``version``. Use as a decorator."""
        if not isinstance(version, int) or isinstance(version, bool):
            raise ArgumentTypeError(f"schema version must be an int, not {version!r}")
        if not 1 <= version <= MAX_SCHEMA_VERSION:
            raise InvalidArgumentError(
                f"schema version must be from 1 to {MAX_SCHEMA_VERSION}, got {version}"
            )

        def deco(cls: type[T]) -> type[T]:
            type_name = name or cls.__name__
            ec = EventClass(cls, type_name, version)
            old = self._by_name.get(type_name)
            if old is not None and old.cls is not cls and old.cls.__qualname__ != cls.__qualname__:
                raise ConfigurationError(
                    f"event type {type_name!r} is already registered to {old.cls!r}"
                )
            self._by_name[type_name] = ec
            self._by_cls[cls] = ec
            return cls

        return deco

    def upcaster(self, type_name: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning the stored dict of ``type_name`` at
        ``from_version`` into its shape at ``from_version + 1``."""

        def deco(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = fn
            return fn

        return deco

    def type_name_of(self, obj: Any) -> str | None:
        """The registered type name of an event object, or None."""
        ec = self._by_cls.get(type(obj))
        return None if ec is None else ec.name

    def class_for(self, type_name: str) -> type[Any] | None:
        ec = self._by_name.get(type_name)
        return None if ec is None else ec.cls

    def schema_version(self, type_name: str) -> int:
        ec = self._by_name.get(type_name)
        return 1 if ec is None else ec.version

    # -- encoding -----------------------------------------------------------------
    def encode_data(self, type_name: str, data: Any) -> tuple[bytes, int]:
        """Encode event data; returns the bytes and the schema version to store."""
        if type(data) is dict:  # the hot path; orjson itself refuses non-str keys
            try:
                out = orjson.dumps(data, default=_default, option=_DUMP_OPTIONS)
            except (TypeError, orjson.JSONEncodeError):
                out = None  # the path below names what failed
            if out is not None:
                if b"null" in out:  # NaN and infinities are written as null
                    _check_finite(data, "data")
                if _UUID_TEXT.search(out) is not None:
                    _check_no_uuid(data, "data")
                return fit(out), self.schema_version(type_name)
        if type(data) is dict or isinstance(data, Mapping):
            for k in data:
                if type(k) is not str and not isinstance(k, str):
                    raise SerializationError(
                        f"event data keys must be str, got {type(k).__name__} key {k!r}"
                    )
            return dumps(data, what="data"), self.schema_version(type_name)
        ec = self._by_cls.get(type(data))
        if ec is None:
            raise SerializationError(
                f"event data must be a mapping with str keys or a registered event class "
                f"instance, not {type(data).__name__}"
            )
        return ec.encode(data), ec.version

    def encode_metadata(self, metadata: Mapping[str, Any] | None) -> bytes:
        if metadata is None or (not metadata and isinstance(metadata, Mapping)):
            return _EMPTY
        if not isinstance(metadata, Mapping):
            raise SerializationError(f"metadata must be a mapping, not {type(metadata).__name__}")
        for k in metadata:
            if not isinstance(k, str):
                raise SerializationError(f"metadata keys must be str, got {k!r}")
        return dumps(metadata, what="metadata")

    def decode_data(self, type_name: str, raw: bytes, schema_version: int = 1) -> Any:
        ec = self._by_name.get(type_name)
        try:
            if ec is None:
                return orjson.loads(raw)
            if schema_version >= ec.version:
                return ec.decode(raw)
            return ec.from_dict(self.upcast(type_name, orjson.loads(raw), schema_version))
        except DeserializationError:
            raise
        except Exception as e:
            raise DeserializationError(
                f"cannot decode stored {type_name!r} event (schema {schema_version}): {e}"
            ) from e

    def upcast(self, type_name: str, data: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Apply the upcasters of ``type_name`` from ``from_version`` to the current one."""
        target = self.schema_version(type_name)
        v = from_version
        while v < target:
            fn = self._upcasters.get((type_name, v))
            if fn is None:
                raise DeserializationError(
                    f"no upcaster for {type_name!r} from schema version {v} to {v + 1}"
                )
            data = fn(data)
            v += 1
        return data

    @staticmethod
    def decode_metadata(raw: bytes | str | None) -> dict[str, Any]:
        if not raw:
            return {}
        result = orjson.loads(raw)
        assert isinstance(result, dict)
        return result


#: The process-wide codec that stores use unless given another.
default_codec: Final = Codec()


def register_event(name: str | None = None, *, version: int = 1) -> Callable[[type[T]], type[T]]:
    """Register an event class with :data:`default_codec` (decorator).

    Example::

        @register_event("Deposited")
        @dataclass
        class Deposited:
            amount: int
    """
    return default_codec.register(name, version=version)


class EncodedEvent(NamedTuple):
    """A :class:`~eventflux.NewEvent` after validation and encoding (backend input).

    ``correlation_id`` is the metadata's ``correlation_id`` when it is a str
    (else None): what ``read_all(correlation_id=...)`` finds the event by, so
    that a backend can index it without decoding the metadata.

    A named tuple (immutable, and several times cheaper to build than a frozen
    dataclass: one is built per appended event).
    """

    id: Any  # uuid.UUID
    type: str
    data: bytes
    metadata: bytes
    schema_version: int
    correlation_id: str | None = None

"""Strict JSON encoding, the type registry and upcasters."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any

import msgspec
import pytest

from eventflux import (
    ArgumentTypeError,
    Codec,
    DeserializationError,
    InvalidArgumentError,
    SerializationError,
)
from eventflux.codec import dumps, loads


class Color(StrEnum):
    RED = "red"


def test_dumps_accepts_json_and_builtin_subclasses() -> None:
    assert loads(dumps({"a": [1, 2.5, None, True, "x"], "b": {"c": (1, 2)}})) == {
        "a": [1, 2.5, None, True, "x"],
        "b": {"c": [1, 2]},
    }
    assert loads(dumps({"color": Color.RED})) == {"color": "red"}
    assert loads(dumps({"s": "null"})) == {"s": "null"}


@pytest.mark.parametrize(
    "value",
    [{"x": math.nan}, {"x": [math.inf]}, {"x": {"y": -math.inf}}, {1: 2}, {"x": {1, 2}}],
    ids=repr,
)
def test_dumps_rejects_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(SerializationError):
        dumps(value)


def test_loads_raises_a_typed_error() -> None:
    with pytest.raises(DeserializationError):
        loads(b"{nope")


def test_registry_dataclass_struct_and_upcasting() -> None:
    codec = Codec()

    @codec.register("Moved", version=3)
    @dataclass
    class Moved:
        x: int
        y: int
        z: int

    @codec.upcaster("Moved", from_version=1)
    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        return {"x": d["pos"][0], "y": d["pos"][1]}

    @codec.upcaster("Moved", from_version=2)
    def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "z": 0}

    raw, schema = codec.encode_data("Moved", Moved(1, 2, 3))
    assert schema == 3
    assert codec.decode_data("Moved", raw, 3) == Moved(1, 2, 3)
    assert codec.decode_data("Moved", b'{"pos": [4, 5]}', 1) == Moved(4, 5, 0)
    assert codec.type_name_of(Moved(1, 2, 3)) == "Moved"
    assert codec.class_for("Moved") is Moved

    @codec.register()
    class Tick(msgspec.Struct):
        price: float

    raw, _ = codec.encode_data("Tick", Tick(1.5))
    assert codec.decode_data("Tick", raw) == Tick(1.5)
    with pytest.raises(SerializationError):
        codec.encode_data("Tick", Tick(math.nan))


def test_missing_upcaster_and_bad_shapes_raise_typed_errors() -> None:
    codec = Codec()

    @codec.register("Renamed", version=2)
    @dataclass
    class Renamed:
        name: str

    with pytest.raises(DeserializationError, match="no upcaster"):
        codec.decode_data("Renamed", b'{"name": "x"}', 1)
    with pytest.raises(DeserializationError):
        codec.decode_data("Renamed", b'{"name": 5}', 2)
    with pytest.raises(TypeError):
        codec.register("Bad")(int)
    with pytest.raises(ValueError):
        codec.register("Bad", version=0)
    with pytest.raises(ArgumentTypeError):
        codec.register("Bad")(int)
    with pytest.raises(InvalidArgumentError, match="2147483647"):
        codec.register("Bad", version=2**31)  # stores keep schema versions in 32 bits
    with pytest.raises(ArgumentTypeError):
        codec.register("Bad", version="2")  # type: ignore[arg-type]


def test_unregistered_objects_are_refused() -> None:
    codec = Codec()

    @dataclass
    class Loose:
        a: int

    with pytest.raises(SerializationError, match="registered"):
        codec.encode_data("Loose", Loose(1))
    with pytest.raises(SerializationError):
        codec.encode_metadata({1: "x"})  # type: ignore[dict-item]
    assert codec.encode_metadata(None) == b""
    assert codec.encode_metadata({}) == b""
    assert codec.decode_metadata(b"") == {}


class Level(IntEnum):
    LOW = 1


class Shape(Enum):
    ROUND = "round"


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=1),
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2024, 6, 1),
        date(2024, 6, 1),
        time(12, 30),
        Decimal("1.5"),
        b"raw",
        {1, 2},
        object(),
    ],
    ids=lambda v: type(v).__name__,
)
def test_one_rule_refuses_values_json_cannot_hold_everywhere(value: Any) -> None:
    codec = Codec()
    for where in ({"x": value}, {"x": [1, {"y": value}]}):
        with pytest.raises(SerializationError) as info:
            codec.encode_data("Any", where)  # event data (the store) and payloads (the bus)
        assert isinstance(info.value, TypeError)
        with pytest.raises(SerializationError):
            codec.encode_metadata(where)  # metadata and message headers
        with pytest.raises(SerializationError):
            dumps(where)


def test_one_rule_names_where_a_uuid_is() -> None:
    with pytest.raises(SerializationError, match=r"data\.x\[1\]\.y is a UUID"):
        Codec().encode_data("Any", {"x": [1, {"y": uuid.uuid4()}]})


def test_json_values_and_their_subclasses_read_back_as_written() -> None:
    codec = Codec()
    text = str(uuid.uuid4())  # a UUID as text is plain text
    data = {"id": text, "list": [text, 1, 2.5, None, True], "color": Color.RED}
    raw, _ = codec.encode_data("Any", data)
    assert codec.decode_data("Any", raw) == {**data, "color": "red"}
    raw, _ = codec.encode_data("Any", {"level": Level.LOW, "shape": Shape.ROUND})
    assert codec.decode_data("Any", raw) == {"level": 1, "shape": "round"}  # enums: values


def test_typed_fields_of_registered_classes_round_trip() -> None:
    codec = Codec()

    @codec.register("Shipped")
    @dataclass
    class Shipped:
        order: uuid.UUID
        at: datetime
        total: Decimal

    event = Shipped(uuid.uuid4(), datetime(2024, 6, 1, 12, tzinfo=UTC), Decimal("9.95"))
    raw, _ = codec.encode_data("Shipped", event)
    assert codec.decode_data("Shipped", raw) == event

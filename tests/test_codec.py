"""Strict JSON encoding, the type registry and upcasters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
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

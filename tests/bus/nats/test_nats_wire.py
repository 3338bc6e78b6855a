"""The NATS bus's wire format and URL settings (no server needed)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from eventflux.bus.nats import wire
from eventflux.bus.nats.settings import parse_settings
from eventflux.exceptions import ConfigurationError


@pytest.mark.parametrize(
    "value", ["plain", " leading", "trailing ", '"quoted"', "ünïcode ✓", "a:b/c=d", "x" * 255]
)
def test_header_values_survive_the_trip(value: str) -> None:
    encoded = wire.encode_value(value)
    assert encoded == encoded.strip()
    assert wire.decode_value(encoded) == value


def test_envelope_headers_round_trip() -> None:
    headers = wire.envelope_headers(
        1700000000.25, "id 1", " key ", '{"a":"b"}', dedup_id="id 1", letter=None
    )
    assert set(headers) == {wire.META, wire.MSG_ID}
    meta = wire.read_meta(headers)
    assert meta == wire.Meta(1700000000.25, "id 1", " key ", '{"a":"b"}', None)
    generated = wire.envelope_headers(1.5, "gen-1", None, None)
    assert set(generated) == {wire.META}
    assert wire.read_meta(generated) == wire.Meta(1.5, "gen-1", None, None, None)
    retried = wire.envelope_headers(2.0, "orig", "k", None, dedup_id="retry-x", letter="g:1:2")
    assert wire.read_meta(retried) == wire.Meta(2.0, "orig", "k", None, "g:1:2")
    assert wire.read_meta(None) == wire.Meta(None, None, None, None, None)


def test_subjects_carry_a_lane_and_come_back() -> None:
    keyed = wire.wire_subject("BUS", "orders.created", "customer-7", 8)
    lane = f"k{wire.partition_of('customer-7', 8)}"
    assert keyed == f"BUS.{lane}.orders.created"
    assert wire.wire_subject("BUS", "r.x", None, 8) == "BUS.u.r.x"
    assert wire.split_subject(keyed, 3) == "orders.created"
    assert wire.split_subject("BUS.u.r.x", 3) == "r.x"
    retry = wire.retry_subject("BUS", "g-1a2b3c4d", "orders.created", None, 8)
    assert retry == "BUS.r.g-1a2b3c4d.u.orders.created"
    assert wire.split_subject(retry, 3) == "orders.created"
    assert wire.filters("BUS", "g-1", "k3", "orders.*") == [
        "BUS.k3.orders.*",
        "BUS.r.g-1.k3.orders.*",
    ]


def test_partitions_are_stable_and_spread() -> None:
    assert wire.partition_of("customer-7", 8) == wire.partition_of("customer-7", 8)
    assert len({wire.partition_of(f"k{i}", 8) for i in range(200)}) == 8


def test_group_ids_tell_patterns_apart() -> None:
    assert wire.group_id("g", "a.*") != wire.group_id("g", "a.>")
    assert wire.group_id("g", "a.*").startswith("g-")


def test_ack_subjects_of_both_forms() -> None:
    assert wire.ack_fields("$JS.ACK.S.C.3.42.40.1700000000000000000.7") == (3, 42, 7)
    assert wire.ack_fields("$JS.ACK.dom.hash.S.C.2.43.41.1700000000000000000.0.rnd") == (2, 43, 0)


def test_url_settings() -> None:
    s = parse_settings(
        urlsplit("nats://ann:s%3Acret@h1:4333,h2"),
        {"stream": "SHOP", "replicas": "3", "partitions": "16"},
    )
    assert s.servers == ["nats://h1:4333", "nats://h2:4222"]
    assert (s.user, s.password) == ("ann", "s:cret")
    assert (s.stream, s.prefix, s.replicas, s.partitions) == ("SHOP", "SHOP", 3, 16)
    assert (s.meta_stream, s.meta_prefix) == ("SHOP_META", "SHOP_meta")
    assert s.dedup_window == 120.0
    default = parse_settings(urlsplit("nats://"), {})
    assert default.servers == ["nats://127.0.0.1:4222"]
    assert default.stream == "EVENTFLUX"


@pytest.mark.parametrize(
    "options",
    [
        {"stream": "bad name"},
        {"stream": "a.b"},
        {"prefix": "a..b"},
        {"replicas": "6"},
        {"replicas": "x"},
        {"partitions": "0"},
        {"partitions": "5000"},
        {"storage": "tape"},
        {"retention": "forever"},
        {"dedup_window": "-1"},
        {"what": "ever"},
    ],
)
def test_bad_url_options_raise(options: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        parse_settings(urlsplit("nats://127.0.0.1:4222"), dict(options))

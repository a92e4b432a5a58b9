"""The orjson transcoder round-trips every type the ledger stores, exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery_ledger.infra.store.transcoder import OrjsonTranscoder, _encode

zones = st.one_of(
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.datetimes(timezones=zones),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.binary(),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)


def same(a: object, b: object) -> bool:
    """Equal values of the same types all the way down, time zone offsets included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return a == b


@given(values)
def test_round_trip_is_exact(value: object) -> None:
    transcoder = OrjsonTranscoder()
    assert same(transcoder.decode(transcoder.encode({"v": value})), {"v": value})


def test_known_values_keep_their_types() -> None:
    transcoder = OrjsonTranscoder()
    state = {
        "id": UUID(int=7),
        "at": datetime(
            2026, 11, 24, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
        "day": date(2026, 11, 24),
        "amount": Decimal("1.10E+3"),
        "sealed": b"\x00\xffbytes",
        "pair": (1, "two"),
    }
    back = transcoder.decode(transcoder.encode(state))
    assert same(back, state)


def test_an_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError):
        OrjsonTranscoder().encode({"s": {1, 2}})


@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_a_state_is_encoded_to_the_same_bytes_as_the_generic_walk(state: dict[str, object]) -> None:
    """The dict fast path (orjson writes UTC datetimes itself) changes no byte: the stored
    bytes are hashed into the chain."""
    assert OrjsonTranscoder().encode(state) == orjson.dumps(_encode(state))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 26, tzinfo=UTC),  # no microseconds: isoformat leaves them out
        datetime(2026, 11, 26, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 26, 1, 30, fold=1, tzinfo=UTC),
        datetime(2026, 11, 26, tzinfo=timezone(timedelta(0))),  # UTC, but not that object
        datetime(2026, 11, 26, tzinfo=timezone(timedelta(hours=5, seconds=7))),
    ],
)
def test_datetimes_keep_their_isoformat_bytes(moment: datetime) -> None:
    expected = b'{"at":{"_type_":"datetime_iso","_data_":"' + moment.isoformat().encode() + b'"}}'
    assert OrjsonTranscoder().encode({"at": moment}) == expected

"""``DefaultSerde`` reads a natural number without the JSON decoder when its hint
is none or ``int`` (an ``int`` input or output, a replayed step's result): what it
reads is what the decoder (``loads``) and the hint's rebuild read, error or value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, strategies as st

from simdurable._api.serde import DefaultSerde, _rebuild, loads

_JSONISH = st.text(alphabet="0123456789-+.eE \"[]{}tnul", max_size=8).map(str.encode)


def read(fn: Any, buf: bytes) -> tuple[str, Any]:
    try:
        value = fn(buf)
    except Exception as err:  # noqa: BLE001 - the kind of error is compared
        return "error", type(err)
    return "ok", (type(value), value)


@given(st.one_of(st.integers(min_value=0).map(lambda n: b"%d" % n), _JSONISH, st.binary(max_size=6)),
       st.sampled_from([None, int]))
def test_a_number_reads_as_the_decoder_and_the_rebuild_read_it(buf: bytes, hint: Any) -> None:
    def general(data: bytes) -> Any:
        return None if not data else _rebuild(hint, loads(data))

    assert read(DefaultSerde(hint).deserialize, buf) == read(general, buf)


def test_an_int_hint_still_rebuilds_what_is_not_a_natural_number() -> None:
    serde: DefaultSerde[Any] = DefaultSerde(int)
    assert serde.deserialize(b"12") == 12
    assert serde.deserialize(b"0") == 0
    assert serde.deserialize(b"-3") == -3
    assert serde.deserialize(b"[1]") == [1]
    assert serde.deserialize(b"") is None

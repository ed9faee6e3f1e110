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


_INPUTS = st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False), st.none(),
                    st.text(max_size=4), st.lists(st.integers(), max_size=3))


@given(_INPUTS)
def test_an_int_input_is_submitted_as_the_ingress_writes_it(value: Any) -> None:
    """``Simulation._submit`` writes an ``int`` for the plain serde itself (its
    digits); every input is stored as ``ingress_bytes`` writes it."""
    import simdurable as sd
    from simdurable._api.serde import ingress_bytes

    svc = sd.Service("Echo")

    @svc.handler()
    async def echo(ctx: sd.Context, x: Any) -> Any:
        return x

    sim = sd.Simulation([svc])
    handle = sim.invoke("Echo/echo", value)
    assert sim.engine.record(handle.id).input == ingress_bytes(DefaultSerde(), value)


class _General(DefaultSerde[Any]):
    """The plain serde's behaviour, through its calls (not the shortcuts, which
    take ``DefaultSerde`` itself only)."""


_RAW = st.one_of(st.integers().map(lambda n: b"%d" % n), st.sampled_from([b"007", b"0", b"", b"1.5"]),
                 _JSONISH, st.binary(max_size=4))
_OUTPUTS = st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=3),
                     st.lists(st.integers(), max_size=2))


@given(_RAW, st.sampled_from([None, int]), _OUTPUTS)
def test_a_handler_reads_its_input_and_writes_its_output_as_its_serde_does(
    raw: bytes, hint: Any, out: Any
) -> None:
    """``Handler._start`` reads a natural number and writes an ``int`` for the
    plain serde without its calls, and ``result()`` reads it back likewise:
    the journal, trace, result (or error) and status are the serde's own."""
    import simdurable as sd

    def run(serde: DefaultSerde[Any]) -> tuple[Any, ...]:
        svc = sd.Service("Io")

        @svc.handler(input_serde=serde, output_serde=serde)
        async def io(ctx: sd.Context, x: Any) -> Any:
            return x + out if type(x) is int and type(out) is int else [x, out]

        sim = sd.Simulation([svc])
        handle = sim.invoke("Io/io", raw=raw)
        sim.run()
        return (sim.trace(), sim.journal(handle), handle.status, read(lambda _: handle.result(), b""),
                sim.problems)

    plain, general = run(DefaultSerde(hint)), run(_General(hint))
    assert plain[:4] == general[:4]
    assert [str(p) for p in plain[4]] == [str(p) for p in general[4]]

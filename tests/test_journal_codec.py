"""``app(journal_value_codec=...)``: checked as restate-sdk 1.3 uses it.

The SDK encodes every success value it stores (handler input and output,
``ctx.run`` results, state, call arguments and responses, awakeable, signal
and promise values) and decodes it as the handler reads it back. A codec whose
``decode`` does not give back what ``encode`` was given hands the handler
other bytes than it stored. Before, the codec was accepted and never called:
such a codec ran clean.
"""

from __future__ import annotations

import random
import zlib
from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd
from simdurable._cli import main
from simdurable.entry_codec import JournalValueCodec

from .live.codec_app import FloatJson  # (re-encodes JSON numbers as floats)

acct = sd.VirtualObject("Acct")
attempts: list[int] = []


def fetch() -> dict[str, Any]:
    return {"amount": 12.5, "id": 1234567890123456789}


@acct.handler()
async def deposit(ctx: sd.ObjectContext, n: int) -> int:
    got = await ctx.run_typed("fetch", fetch)
    balance = int(await ctx.get("balance") or 0) + n
    ctx.set("balance", balance)
    ctx.set("last", got)
    return balance


@acct.handler()
async def stamp(ctx: sd.ObjectContext) -> str:
    # Its value differs from one attempt to the next: restate-sdk checks a
    # replayed command's payload only without a codec.
    attempts.append(1)
    ctx.set("stamp", len(attempts))
    await ctx.sleep(timedelta(milliseconds=1))
    return "stamped"


class Zlib(JournalValueCodec):
    def encode(self, buf: bytes) -> bytes:
        return zlib.compress(buf)

    async def decode(self, buf: bytes) -> bytes:
        return zlib.decompress(buf)


class Truncating(JournalValueCodec):
    """A length prefix of one byte: values over 255 bytes come back cut."""

    def encode(self, buf: bytes) -> bytes:
        return bytes([len(buf) % 256]) + buf

    async def decode(self, buf: bytes) -> bytes:
        return buf[1:1 + buf[0]]


class Nonce(JournalValueCodec):
    """Another encoding each time (an encryption's nonce), decoded right."""

    def encode(self, buf: bytes) -> bytes:
        return bytes([random.randrange(256)]) + buf

    async def decode(self, buf: bytes) -> bytes:
        return buf[1:]


class Refusing(JournalValueCodec):
    def encode(self, buf: bytes) -> bytes:
        return buf

    async def decode(self, buf: bytes) -> bytes:
        raise ValueError("bad tag")  # LINE refusing


def _run(codec: Any, target: str = "Acct/a/deposit", value: Any = 5, **kw: Any) -> Any:
    sim = sd.Simulation(sd.app([acct], journal_value_codec=codec), **kw)
    handle = sim.invoke(target, value)
    sim.run()
    return handle.result()


@pytest.mark.parametrize("codec", [Zlib(), Nonce()], ids=["zlib", "nonce"])
def test_a_codec_that_gives_back_what_it_encoded_runs_clean(codec: Any) -> None:
    assert _run(codec, always_suspend=True) == 5


def test_a_codec_that_loses_digits_is_named_at_the_step() -> None:
    with pytest.raises(sd.SerializationError) as info:
        _run(FloatJson())
    err = info.value
    assert (err.handler, err.step, err.journal_index) == ("Acct/a/deposit", "fetch", 0)
    assert "journal_value_codec does not give back what it encoded" in err.detail
    assert "1234567890123456789" in err.detail and "1234567890123456768" in err.detail
    assert err.source is not None and err.source.startswith("codec_app.py:")


def test_a_codec_that_cuts_long_values_is_named_at_the_input() -> None:
    sim = sd.Simulation(sd.app([acct], journal_value_codec=Truncating()))
    sim.invoke("Acct/a/deposit", 10 ** 300)  # a 301-digit balance
    with pytest.raises(sd.SerializationError) as info:
        sim.run()
    err = info.value
    # (its input first: the same 301 digits)
    assert err.handler == "Acct/a/deposit" and err.journal_index is None
    assert "its input" in err.detail


def test_a_codec_whose_decode_raises_is_named() -> None:
    with pytest.raises(sd.SerializationError, match=r"journal_value_codec\.decode raised "
                                                    r"ValueError: bad tag"):
        _run(Refusing())


def test_with_a_codec_replays_do_not_compare_payloads_as_restate() -> None:
    attempts.clear()
    assert _run(Nonce(), "Acct/a/stamp", None, always_suspend=True) == "stamped"
    attempts.clear()
    sim = sd.Simulation([acct], always_suspend=True)  # no codec: the payloads are compared
    handle = sim.invoke("Acct/a/stamp")
    sim.run()
    with pytest.raises(sd.JournalMismatchError):
        handle.result()


def test_a_provider_is_called_once_and_its_codec_used() -> None:
    made: list[int] = []

    async def provide() -> JournalValueCodec:
        made.append(1)
        return FloatJson()

    with pytest.raises(sd.SerializationError):
        _run(provide)
    assert made == [1]


refunds = sd.Service("Refunds")


def charge() -> str:
    return "charged"


@refunds.handler()
async def buy(ctx: sd.Context, n: int) -> int:
    try:
        await ctx.run_typed("charge", charge)
    except sd.TerminalError:  # only under a fault: a value the codec cannot keep
        return await ctx.run_typed("refund", lambda: 2 ** 60 + 1)
    return n


refund_app = sd.app([refunds], journal_value_codec=FloatJson())


def _namespace() -> dict[str, Any]:
    import importlib

    top = __name__.split(".")[0]
    return {"simdurable": sd, "sd": sd, top: importlib.import_module(top)}


def test_a_codec_bug_under_a_fault_is_a_violation_whose_reproducers_keep_the_codec() -> None:
    # Before, the codec's error ended the whole check (no faults named, nothing to
    # replay), and the reproducers named the app's services, not the app.
    report = sd.check(services=refund_app, invoke="Refunds/buy", input=1, max_examples=0)
    (v,) = report.violations
    assert (v.kind, v.handler, v.step) == ("serialization", "Refunds/buy", "refund")
    assert "1152921504606846977" in v.message
    assert str(v.fault_plan).startswith("terminal(step=charge")
    assert "services=" + __name__ + ".refund_app," in v.python_line
    replayed = eval(v.python_line, _namespace())  # noqa: S307 - the line a report printed
    assert replayed.kinds == ["serialization"]
    with pytest.raises(sd.SerializationError, match="does not give back what it encoded"):
        exec(v.program, _namespace())  # noqa: S102


def test_the_command_lines_reproducer_keeps_the_codec(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    import shlex

    assert main(["check", f"{__name__}:refund_app", "--invoke", "Refunds/buy", "--input",
                 "1", "--max-examples", "0"]) == 1
    out = capsys.readouterr().out
    assert "[1] serialization:" in out and 'step "refund"' in out
    line = next(ln.strip() for ln in out.splitlines() if ln.strip().startswith(
        "simdurable check ") and " --replay " in ln)
    assert main(shlex.split(line)[1:]) == 1
    assert "1 violation (serialization)" in capsys.readouterr().out


def test_not_a_codec_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="journal_value_codec must be a JournalValueCodec"):
        sd.Simulation(sd.app([acct], journal_value_codec=42))


restate = pytest.importorskip("restate")
rs = restate.Service("Rs")


@rs.handler()
async def big(ctx: restate.Context) -> int:
    return int(await ctx.run_typed("fetch", lambda: 2 ** 60 + 1))


rs_app = restate.app([rs], journal_value_codec=FloatJson())


def test_restate_sdks_app_codec_is_found_by_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"{__name__}:rs_app", "--invoke", "Rs/big", "--max-examples",
                 "1"]) == 1
    out = capsys.readouterr().out
    assert 'handler Rs/big, step "fetch" (journal #0' in out
    assert "1152921504606846977" in out and "Traceback" not in out
    # the reproducers name the app (its codec), not the services it hosts
    assert f"services=[{__name__}.rs_app]" in out


def _soak(jobs: str, db: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["soak", f"{__name__}:refund_app", "--invoke", "Refunds/buy", "--input", "1",
                 "--seeds", "0:2", "--max-examples", "0", "-j", jobs, "--database", str(db)])
    first, *rest = capsys.readouterr().out.replace(str(db), "DB").strip().splitlines()
    return code, [first.split(" checks in ")[0], *rest]


def test_worker_processes_check_under_the_apps_codec(
        tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker imported the services by name and hosted them without the app's
    # codec: soak -j 2 (each check whole in a worker) found nothing.
    one = _soak("1", tmp_path / "db1", capsys)
    assert "serialization: terminal(step=charge" in "\n".join(one[1])
    assert _soak("2", tmp_path / "db2", capsys) == one
    # and a check's parts in warm workers (no fork: another thread runs here)
    from simdurable._check import _workers

    monkeypatch.setattr(_workers, "can_fork", lambda: False)
    kw: dict[str, Any] = {"services": refund_app, "invoke": "Refunds/buy", "input": 1,
                          "max_examples": 4}
    assert sd.check(jobs=2, **kw).render() == sd.check(**kw).render()


def test_a_codec_that_cannot_be_sent_to_a_worker_keeps_the_check_here() -> None:
    class Local(JournalValueCodec):  # (defined in a function: pickle cannot name it)
        def encode(self, buf: bytes) -> bytes:
            return buf

        async def decode(self, buf: bytes) -> bytes:
            return buf

    report = sd.check(services=sd.app([refunds], journal_value_codec=Local()),
                      invoke="Refunds/buy", input=1, max_examples=0, jobs=2)
    assert report.ok
    assert any("journal_value_codec" in n and "cannot be sent to another process" in n
               for n in report.notes), report.notes

"""Ids handed to the context, as a Restate server takes them.

Measured on Restate 1.7.12 with restate-sdk 1.3.0: a command naming an id of
the wrong shape fails the invocation (RT0012; RT0017 for an attach), where the
handler cannot catch it, and the server retries it until its retry policy
pauses it; an id of the right shape that names nothing is accepted (an
awakeable's completion and a cancellation are dropped, an attach fails with
404 "not found").
"""

from __future__ import annotations

import pytest

import simdurable as restate
import simdurable as sd
from simdurable.runtime._ids import is_awakeable_id, is_invocation_id

ids = restate.Service("Ids")


@ids.handler()
async def act(ctx: restate.Context, req: dict[str, str]) -> str:
    method, given = req["method"], req["id"]
    try:  # Restate's failure is not the handler's to catch
        if method == "resolve_awakeable":
            ctx.resolve_awakeable(given, "x")
        elif method == "reject_awakeable":
            ctx.reject_awakeable(given, "no")
        elif method == "cancel_invocation":
            ctx.cancel_invocation(given)
        elif method == "resolve_signal":
            ctx.resolve_signal(given, "s", 1)
        elif method == "reject_signal":
            ctx.reject_signal(given, "s", "no")
        else:
            return str(await ctx.attach_invocation(given))
    except restate.TerminalError as err:
        return f"terminal {err.status_code}: {err.message}"
    except Exception as err:  # noqa: BLE001 - what a careless handler does
        return f"swallowed {type(err).__name__}"
    return "accepted"


METHODS = ["resolve_awakeable", "reject_awakeable", "cancel_invocation", "resolve_signal",
           "reject_signal", "attach_invocation"]
# Restate's own ids, as its server gave them
RESTATE_AWK = "sign_14lVFY8IJoKodsXLf9_0gnkTL4h_U5dEvAAAAEQ"
RESTATE_INV = "inv_14Ybc2eecCBx6y4YvRCDyo1kRF0VFE4LPx"


def _run(method: str, given: str) -> sd.InvocationHandle:
    sim = sd.Simulation([ids], seed=1)
    h = sim.invoke("Ids/act", {"method": method, "id": given})
    sim.run()
    return h


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("given", ["not-an-id", "awk_nope_0", "inv_1doesnotexist0000000000000",
                                   ""])
def test_an_id_of_the_wrong_shape_pauses_the_invocation_naming_the_call(
        method: str, given: str) -> None:
    h = _run(method, given)
    assert h.status == "paused"
    with pytest.raises(sd.HandlerError) as err:
        h.result()
    what = "an awakeable" if method.endswith("awakeable") else "an invocation"
    assert f"ctx.{method}() got {given!r}, which is not {what} id" in str(err.value)
    assert "test_ids_as_restate.py" in str(err.value)


@pytest.mark.parametrize("method,given", [
    ("resolve_awakeable", "awk_0123456789abcdef0123_1"),
    ("reject_awakeable", RESTATE_AWK),
    ("cancel_invocation", "inv_0123456789abcdef0123"),
    ("cancel_invocation", RESTATE_INV),
    ("resolve_signal", RESTATE_INV),
])
def test_an_id_of_the_right_shape_naming_nothing_is_accepted(method: str, given: str) -> None:
    assert _run(method, given).result() == "accepted"


def test_attaching_to_an_id_of_the_right_shape_naming_nothing_fails_with_404() -> None:
    assert _run("attach_invocation", RESTATE_INV).result().startswith("terminal 404:")


def test_the_shapes() -> None:
    assert is_awakeable_id(RESTATE_AWK) and is_invocation_id(RESTATE_INV)
    assert is_awakeable_id("awk_" + RESTATE_INV.removeprefix("inv_") + "_3")
    assert not is_awakeable_id(RESTATE_AWK[:-1]) and not is_awakeable_id(RESTATE_AWK + "A")
    assert not is_awakeable_id("awk_0123456789abcdef0123_١")
    assert not is_invocation_id(RESTATE_INV[:-1]) and not is_invocation_id(None)

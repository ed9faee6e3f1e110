"""Two calls raced: the ending depends on which callee finishes first.

Restate's concurrent greeter (restate-sdk examples) calls two models with
``wait_completed`` and keeps what is done. A crash after the first call is
stored holds the caller back for its retry: the first callee finishes before
the second is called, and the other model answers. Fault-free runs end so
too at other seeds (another schedule): that is no outcome the crash changed.
"""

from __future__ import annotations

import simdurable as sd

greeter = sd.Service("RacedGreeter")
mail = sd.FakeExternal("raced-mail")


@greeter.handler()
async def french(ctx: sd.Context, name: str) -> str:
    return f"Bonjour {name}!"


@greeter.handler()
async def english(ctx: sd.Context, name: str) -> str:
    return f"Hello {name}!"


@greeter.handler()
async def greet(ctx: sd.Context, name: str) -> list[str]:
    first = ctx.service_call(french, arg=name)
    second = ctx.service_call(english, arg=name)
    done, pending = await sd.wait_completed(first, second)
    texts = [await f for f in done]
    for f in pending:
        await f.cancel_invocation()  # type: ignore[attr-defined]
    return texts


@greeter.handler()
async def greet_and_mail(ctx: sd.Context, name: str) -> list[str]:
    """The same race, then a mail with no idempotency key: still a duplicate."""
    texts = await greet(ctx, name)
    await ctx.run_typed("mail", lambda: mail.apply("send", {"to": name}))
    return texts


def test_which_raced_call_answers_first_is_no_outcome_change() -> None:
    endings = set()
    for seed in range(8):
        sim = sd.Simulation([greeter], seed=seed)
        h = sim.invoke("RacedGreeter/greet", "Ann")
        sim.run()
        endings.add(tuple(h.result()))
    assert endings == {("Bonjour Ann!",), ("Hello Ann!",)}  # a race, fault-free
    for seed in (0, 1):
        report = sd.check(services=[greeter], invoke="RacedGreeter/greet", input="Ann",
                          seed=seed, max_examples=30)
        assert report.ok, report


def test_a_bug_beside_the_race_is_still_found() -> None:
    report = sd.check(services=[greeter], invoke="RacedGreeter/greet_and_mail", input="Ann",
                      externals=[mail], max_examples=30)
    assert "duplicate-effect" in report.kinds

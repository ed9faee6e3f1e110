"""Bad input gets a clear error that names what is wrong."""

from __future__ import annotations

import gc
import warnings

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Greeter")
obj = restate.VirtualObject("Box")


@svc.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"hi {name}"


@svc.handler()
async def leaky(ctx: restate.Context) -> str:
    return await ctx.run_typed("leak", lambda: object())


@svc.handler()
async def returns_set(ctx: restate.Context) -> set:
    return {1, 2}


@svc.handler()
async def misuse(ctx: restate.Context) -> str:
    async def sneaky_step() -> str:
        await ctx.sleep(__import__("datetime").timedelta(seconds=1))
        return "x"

    return await ctx.run_typed("charge", sneaky_step)


async def send_receipt(order: str) -> str:
    return order


@svc.handler()
async def coroutine_as_step(ctx: restate.Context) -> str:
    return await ctx.run_typed("receipt", send_receipt("o1"))  # type: ignore[arg-type]


@svc.handler()
async def misuse_random(ctx: restate.Context) -> float:
    rng = ctx.random()
    return await ctx.run_typed("roll", lambda: rng.random())


@svc.handler()
async def awaits_asyncio(ctx: restate.Context) -> None:
    import asyncio

    await asyncio.sleep(1)


@obj.handler()
async def put(ctx: restate.ObjectContext, value: dict) -> None:
    ctx.set("v", value)


@svc.handler()
async def state_in_service(ctx: restate.Context) -> None:
    await ctx.get("x")  # type: ignore[attr-defined]


def sim(**kw):
    return sd.Simulation([svc, obj], seed=0, **kw)


def test_unknown_target_names_the_known_handlers():
    s = sim()
    with pytest.raises(sd.InvalidTargetError, match=r"no handler Greeter/nope .* Greeter/greet"):
        s.invoke("Greeter/nope", "x")
    with pytest.raises(sd.InvalidTargetError, match=r"need a key, like \"Box/<key>/put\""):
        s.invoke("Box/put", {})
    with pytest.raises(sd.InvalidTargetError, match="take no key"):
        s.invoke("Greeter/k/greet", "x")
    with pytest.raises(sd.InvalidTargetError, match="bad target"):
        s.invoke("nonsense", "x")


def test_input_that_does_not_serialize_or_parse():
    s = sim()
    with pytest.raises(sd.SerializationError, match="input cannot be serialized for Greeter/greet"):
        s.invoke("Greeter/greet", object())
    h = s.invoke("Greeter/greet", raw=b"{not json")
    s.run()
    with pytest.raises(restate.TerminalError) as info:
        h.result()
    # restate-sdk 1.3's failure, as restate-server 1.7.12 records it: a journal it
    # recorded of such an input replays as the same end (it was a 400 naming the
    # handler, which replay-journals reported as a divergence)
    assert info.value.status_code == 500
    assert info.value.message.startswith("Unable to parse an input argument. Expecting ")


def test_step_result_that_cannot_be_serialized_names_the_step():
    policy = restate.InvocationRetryPolicy(max_attempts=2)
    s = sim(retry_policy=policy)
    h = s.invoke("Greeter/leaky")
    s.run()
    assert h.status == "paused"
    with pytest.raises(sd.NotFinishedError) as info:
        h.result()
    text = str(info.value)
    assert 'step "leak"' in text and "journal #0" in text and "not JSON serializable" in text


def test_a_coroutine_given_as_a_step_is_named_and_closed():
    """Closed where it is refused: else Python warns that it was never awaited
    later, at whatever line its garbage collection came."""
    s = sim()
    h = s.invoke("Greeter/coroutine_as_step")
    gc.collect()  # (what earlier tests left, warned about here otherwise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s.run()
        gc.collect()
    assert h.status == "paused"
    with pytest.raises(sd.HandlerError, match=r"needs a callable for step 'receipt', got a "
                       r"coroutine, what calling send_receipt\(\) returned: pass the async "
                       r"function and its arguments \(ctx.run_typed\('receipt', send_receipt"):
        h.result()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_handler_output_that_cannot_be_serialized():
    s = sim(retry_policy=restate.InvocationRetryPolicy(max_attempts=1))
    h = s.invoke("Greeter/returns_set")
    s.run()
    with pytest.raises(sd.SerializationError, match="returned a value that cannot be serialized"):
        h.result()


def test_handler_that_is_not_async_is_refused_at_definition():
    other = restate.Service("Sync")
    with pytest.raises(TypeError, match="must be an async function") as info:

        @other.handler()
        def sync_handler(ctx, x):  # noqa: ANN001
            return x

    assert "async def sync_handler(ctx, ...):  # correct!" in str(info.value)


def test_context_used_inside_a_step_is_a_clear_error_naming_step_and_method():
    s = sim()
    h = s.invoke("Greeter/misuse")
    s.run()
    assert h.status == "paused"
    with pytest.raises(sd.ContextMisuseError) as info:
        h.result()
    err = info.value
    assert err.step == "charge" and err.journal_index == 0 and err.handler == "Greeter/misuse"
    assert "ctx.sleep() was called inside a step's closure" in str(err)
    assert "# correct!" in str(err)
    assert [p.kind for p in s.problems] == ["context-misuse"]


def test_random_from_the_context_is_refused_inside_a_step():
    s = sim()
    h = s.invoke("Greeter/misuse_random")
    s.run()
    with pytest.raises(sd.ContextMisuseError, match=r'step "roll".*ctx.random\(\)'):
        h.result()


def test_awaiting_a_foreign_awaitable_is_a_clear_error():
    s = sim()
    h = s.invoke("Greeter/awaits_asyncio")
    s.run()
    with pytest.raises(sd.HandlerError, match="the handler used an event loop"):
        h.result()
    assert h.attempts == 1


def test_state_in_a_plain_service_is_refused():
    s = sim()
    h = s.invoke("Greeter/state_in_service")
    s.run()
    with pytest.raises(sd.HandlerError, match="needs keyed state, but Greeter is a Service"):
        h.result()


def test_services_argument_is_checked():
    with pytest.raises(TypeError, match="not a service"):
        sd.Simulation([object()])
    with pytest.raises(TypeError, match="list of Service"):
        sd.Simulation("Greeter")  # type: ignore[arg-type]


def test_calling_an_undecorated_function_is_a_clear_error():
    caller = restate.Service("Caller")

    async def not_a_handler(ctx, x):  # noqa: ANN001
        return x

    @caller.handler()
    async def go(ctx: restate.Context) -> None:
        await ctx.service_call(not_a_handler, 1)

    s = sd.Simulation([caller], retry_policy=restate.InvocationRetryPolicy(max_attempts=1))
    h = s.invoke("Caller/go")
    s.run()
    with pytest.raises(sd.NotFinishedError, match="not a handler: decorate it"):
        h.result()

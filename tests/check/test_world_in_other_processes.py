"""The reference run in other processes gets the world's events too.

A workflow that waits for an approval and then mails a set of people in the
set's order takes another path in a process with another hash seed; the
processes ran it without the world's events, so it waited there for ever and
nothing differed: the check said nothing about any handler that needs the
world (a workflow's promise, an awakeable).
"""

from __future__ import annotations

import simdurable as restate
import simdurable as sd
from simdurable import world

mailer = sd.FakeExternal("invites")
invite = restate.Workflow("Invite")
invite_sorted = restate.Workflow("InviteSorted")


def _mail(to: str) -> None:
    mailer.apply("send", {"to": to}, idempotency_key=to)


@invite.main()
async def run(ctx: restate.WorkflowContext, people: list[str]) -> int:
    if not await ctx.promise("approved").value():
        return 0
    for who in set(people):  # hash order: another order in another process
        await ctx.run_typed(f"mail-{who}", _mail, to=who)
    return len(people)


@invite_sorted.main(name="run")
async def run_sorted(ctx: restate.WorkflowContext, people: list[str]) -> int:
    if not await ctx.promise("approved").value():
        return 0
    for who in sorted(set(people)):
        await ctx.run_typed(f"mail-{who}", _mail, to=who)
    return len(people)


PEOPLE = ["ann", "bob", "cyd", "dee", "eve", "fay"]


def check(workflow: restate.Workflow) -> sd.Report:
    return sd.check(services=[workflow], invoke=f"{workflow.name}/w1/run", input=PEOPLE,
                    externals=[mailer], world=[world.resolve_promise("approved", True)],
                    max_examples=5)


def test_set_order_after_a_promise_is_found_in_other_processes():
    report = check(invite)
    assert report.kinds == ["nondeterminism"], report.render()
    v = report.violations[0]
    assert "PYTHONHASHSEED" in v.message and v.handler == "Invite/w1/run"
    assert v.journal_diff is not None and 'promise "approved"' in v.journal_diff


def test_its_sorted_twin_is_quiet():
    report = check(invite_sorted)
    assert report.ok, report.render()

"""Mutation testing of the example handlers: how many mutants does ``check`` kill?

Each mutant is one example module with one durable-execution mistake put
in: an idempotency key removed, a step's call moved out of its step, two
steps swapped (with nothing durable between them), an ``await`` dropped,
``ctx.uuid()``/``ctx.time()`` replaced by ``uuid4()``/``time.time()``. ``check`` runs on each with its default
settings (and the invariant a user would write for the example); a mutant
is killed when ``check`` reports a violation. A mutant that makes ``check``
itself raise is not killed: it is counted apart, as "check crashed", with
the error (a harness bug or a mutant it cannot host, never a bug found). The
table goes to
docs/bug-corpus.md:

    python -m benchmarks.mutants            # all mutants, rewrites the doc's section
    python -m benchmarks.mutants --no-write --only shop
"""

from __future__ import annotations

import argparse
import ast
import importlib
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bug-corpus.md"
MARK = "<!-- mutants: python -m benchmarks.mutants -->"


def _no_double_charge(outcome: Any) -> None:
    charges = [e for e in outcome.effects.get("bank", []) if e.op == "charge"]
    assert len(charges) <= 1, f"charged {len(charges)} times"


def _saga_undone(outcome: Any) -> None:
    if outcome.error is None:
        return
    for ext in ("flights", "hotels"):
        ops = [e.op for e in outcome.effects.get(ext, [])]
        assert ops.count("reserve") == ops.count("cancel"), f"{ext} left reserved: {ops}"


def _signup_done(outcome: Any) -> None:
    ops = [e.op for e in outcome.effects.get("accounts", [])]
    if outcome.status == "completed":
        assert ops == ["create", "activate"], f"the account was not activated once: {ops}"


def _user_clicks() -> dict[str, Any]:
    """The world of the signup workflow: the user clicks the link in the email."""
    from simdurable import world

    return {"world": [world.resolve_promise("email-link", "s3cret")]}


# module, target, the handler functions it runs, input, invariant, other check arguments
TARGETS: list[tuple[str, str, tuple[str, ...], Any, Callable[[Any], None] | None,
                    Callable[[], dict[str, Any]] | None]] = [
    ("shop", "Shop/checkout", ("checkout", "reserve"), {"item": "book", "amount": 30},
     _no_double_charge, None),
    ("payments", "Payments/pay", ("pay",), {"amount": 10}, _no_double_charge, None),
    ("saga", "Trips/book", ("book",), {"name": "t1"}, _saga_undone, None),
    ("reminders", "Reminders/remind", ("remind",), {"to": "ann", "days": 3}, None, None),
    ("counter", "Counter/c1/add", ("add",), 2, None, None),
    ("flaky", "Prices/fetch_or_default", ("fetch_or_default",), "ACME", None, None),
    ("signup", "Signup/ada/run", ("run",), "ada@example.com", _signup_done, _user_clicks),
]


@dataclass
class Mutant:
    module: str
    operator: str
    line: int
    source: str


def _functions(tree: ast.Module, handlers: tuple[str, ...]) -> list[ast.AST]:
    """The target's handler functions and the module's plain (step) functions."""
    return [n for n in tree.body if (isinstance(n, ast.AsyncFunctionDef) and n.name in handlers)
            or isinstance(n, ast.FunctionDef)]


def _is_ctx_call(node: ast.AST, method: str | None = None) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "ctx"
            and (method is None or node.func.attr == method))


def _on_ctx(node: ast.AST) -> bool:
    """A call of a context operation: ``ctx.sleep(...)``, ``ctx.promise("p").value()``."""
    if not isinstance(node, ast.Call):
        return False
    func: ast.AST = node.func
    while isinstance(func, (ast.Attribute, ast.Call)):
        func = func.value if isinstance(func, ast.Attribute) else func.func
    return isinstance(func, ast.Name) and func.id == "ctx" and isinstance(node.func, ast.Attribute)


def _sites(tree: ast.Module, handlers: tuple[str, ...]) -> Iterator[tuple[str, Any, int]]:
    """Every place one operator applies: (operator, node, line)."""
    scope = _functions(tree, handlers)
    for node in (n for fn in scope for n in ast.walk(fn)):
        if isinstance(node, ast.keyword) and node.arg == "idempotency_key" and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "remove-idempotency-key", node, node.value.lineno
        if isinstance(node, ast.Await) and _is_ctx_call(node.value, "run_typed"):
            yield "call-outside-step", node, node.lineno
        if isinstance(node, ast.Await) and _on_ctx(node.value):
            yield "drop-await", node, node.lineno
        if _is_ctx_call(node, "uuid"):
            yield "uuid4-instead-of-ctx-uuid", node, getattr(node, "lineno", 0)
        if isinstance(node, ast.Await) and _is_ctx_call(node.value, "time"):
            yield "time-instead-of-ctx-time", node, node.lineno
    for fn in scope:
        for body in _bodies(fn):
            for i, j in _step_pairs(body):
                yield "swap-steps", (body[i], body[j]), body[i].lineno


def _bodies(fn: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(fn):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield body


def _awaits_step(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Await) and _is_ctx_call(n.value, "run_typed")
               for n in ast.walk(stmt))


def _step_pairs(body: list[ast.stmt]) -> Iterator[tuple[int, int]]:
    """Two statements of one block that each await a step, with no durable
    operation between them (only plain code, such as registering an undo)."""
    for i, stmt in enumerate(body):
        if not _awaits_step(stmt):
            continue
        for j in range(i + 1, len(body)):
            if _awaits_step(body[j]):
                yield i, j
                break
            if any(_is_ctx_call(n) for n in ast.walk(body[j])):
                break


class _Apply(ast.NodeTransformer):
    def __init__(self, operator: str, target: Any) -> None:
        self.operator, self.target = operator, target

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        if node is self.target:
            return ast.keyword(arg=node.arg, value=ast.Constant(None))
        return self.generic_visit(node)

    def visit_Await(self, node: ast.Await) -> ast.AST:
        if node is not self.target:
            return self.generic_visit(node)
        call = node.value
        assert isinstance(call, ast.Call)
        if self.operator == "call-outside-step":
            fn, *args = call.args[1:] if len(call.args) > 1 else [call.args[0]]
            if isinstance(fn, ast.Constant) or (call.args and len(call.args) < 2):
                return node
            return ast.Call(func=fn, args=args, keywords=call.keywords)
        if self.operator == "time-instead-of-ctx-time":
            return ast.parse("__import__('time').time()", mode="eval").body
        return call  # drop-await

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if node is self.target:  # uuid4-instead-of-ctx-uuid
            return ast.parse("__import__('uuid').uuid4()", mode="eval").body
        return self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if self.operator == "swap-steps":
            assert isinstance(self.target, tuple)
            first, second = self.target
            for name in ("body", "orelse", "finalbody"):
                body = getattr(node, name, None)
                if isinstance(body, list) and first in body:
                    i, j = body.index(first), body.index(second)
                    body[i], body[j] = body[j], body[i]
                    return node
        return super().generic_visit(node)


def mutants(module: str, handlers: tuple[str, ...]) -> list[Mutant]:
    text = (ROOT / "examples" / f"{module}.py").read_text()
    out = []
    count = sum(1 for _ in _sites(ast.parse(text), handlers))
    for k in range(count):
        tree = ast.parse(text)
        operator, node, line = list(_sites(tree, handlers))[k]
        new = ast.unparse(ast.fix_missing_locations(_Apply(operator, node).visit(tree)))
        if new != ast.unparse(ast.parse(text)):
            out.append(Mutant(module, operator, line, new))
    return out


@dataclass
class Result:
    mutant: Mutant
    killed: bool
    kinds: list[str]
    seconds: float
    cpu: float  # the checking process's CPU seconds (not the hash-seed workers')
    crashed: str | None = None  # what ``check`` raised, if it raised: not a kill


def run(only: list[str], operators: tuple[str, ...] = (), **overrides: Any) -> list[Result]:
    """Check every mutant of the modules in ``only`` (all when empty), or only
    those of ``operators``; ``overrides`` go to ``check`` (the tests ask for
    fewer examples)."""
    sys.path.insert(0, str(ROOT))
    import simdurable as sd

    with tempfile.TemporaryDirectory(prefix="simdurable-mutants-") as tmp:
        sys.path.insert(0, tmp)
        try:
            return _run_in(Path(tmp), sd, only, operators, overrides)
        finally:
            sys.path.remove(tmp)


_RUNS = itertools.count(1)  # module names stay unique when run() is called again


def _run_in(work: Path, sd: Any, only: list[str], operators: tuple[str, ...],
            overrides: dict[str, Any]) -> list[Result]:
    results = []
    n = 0
    batch = next(_RUNS)
    for module, target, handlers, value, invariant, extra in TARGETS:
        if only and module not in only:
            continue
        for m in mutants(module, handlers):
            if operators and m.operator not in operators:
                continue
            n += 1
            name = f"mutant_{batch}_{module}_{n}"
            (work / f"{name}.py").write_text(m.source)
            mod = importlib.import_module(name)
            t0, c0 = time.perf_counter(), time.process_time()
            crashed = None
            try:
                report = sd.check(services=mod.services, invoke=target, input=value,
                                  externals=getattr(mod, "externals", []), invariant=invariant,
                                  **(extra() if extra is not None else {}), **overrides)
                kinds = list(report.kinds)
            except Exception as err:  # noqa: BLE001 - check itself failed: shown apart
                kinds = []
                crashed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            r = Result(m, bool(kinds), kinds, time.perf_counter() - t0,
                       time.process_time() - c0, crashed)
            results.append(r)
            verdict = (f"CHECK CRASHED ({crashed})" if crashed
                       else f"{'killed' if r.killed else 'SURVIVED'} {kinds}")
            print(f"{module:10} {m.operator:28} line {m.line:3}: "
                  f"{verdict} {r.seconds:.2f}s wall, {r.cpu:.2f}s CPU", flush=True)
    return results


def table(results: list[Result]) -> str:
    killed = sum(r.killed for r in results)
    crashed = [r for r in results if r.crashed]
    by_op: dict[str, list[Result]] = {}
    for r in results:
        by_op.setdefault(r.mutant.operator, []).append(r)
    lines = [MARK, "",
             f"**{killed} of {len(results)} mutants killed ({killed / max(1, len(results)):.0%})** "
             "by `check` with its default settings, on the handlers of `examples/` "
             f"({', '.join(t[0] for t in TARGETS)}); {len(crashed)} made `check` itself "
             f"crash (not counted as killed); {sum(r.cpu for r in results):.1f} s "
             "of CPU in the checking process for all of them.", "",
             "| operator | mutants | killed | check crashed (module:line) "
             "| survivors (module:line) |",
             "| --- | --- | --- | --- | --- |"]
    for op, rs in sorted(by_op.items()):
        broke = ", ".join(f"{r.mutant.module}:{r.mutant.line}" for r in rs if r.crashed)
        survivors = ", ".join(f"{r.mutant.module}:{r.mutant.line}" for r in rs
                              if not r.killed and not r.crashed)
        lines.append(f"| {op} | {len(rs)} | {sum(r.killed for r in rs)} | {broke or '-'} "
                     f"| {survivors or '-'} |")
    for r in crashed:
        lines.append(f"\ncheck crashed on {r.mutant.module}:{r.mutant.line} "
                     f"({r.mutant.operator}): `{r.crashed}`")
    return "\n".join(lines) + "\n"


def replace_section(doc: str, text: str) -> str:
    """``doc`` with the table after ``MARK`` replaced by ``text``: up to the next
    heading or marker, which stay."""
    head, _, rest = doc.partition(MARK)
    ends = [i for i in (rest.find("\n#"), rest.find("\n<!--")) if i >= 0]
    tail = rest[min(ends) + 1:] if ends else ""
    return head + text + ("\n" + tail if tail else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    text = table(run(args.only))
    print(text)
    if not args.no_write and not args.only:
        doc = DOC.read_text()
        if MARK in doc:
            DOC.write_text(replace_section(doc, text))
        else:
            DOC.write_text(doc.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

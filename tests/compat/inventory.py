"""The handlers each program defines, read from its source (the same in both modes).

A handler is ``Service/handler`` where the service name is the string given
to ``Service``/``VirtualObject``/``Workflow`` and the handler name is the
``name=`` of its decorator or the function's name. Programs that build
services in a loop list them in ``DYNAMIC``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PROGRAM_DIR = Path(__file__).parent / "programs"
KINDS = {"Service", "VirtualObject", "Workflow"}

DYNAMIC: dict[str, set[str]] = {
    "sdk_ts_interpreter": {f"ObjectInterpreterL{i}/{h}" for i in range(3)
                           for h in ("interpret", "counter")},
}

# Helpers written here so that a published handler has a target; not counted.
ADDED: dict[str, set[str]] = {
    "sdk_ts_test_utils": {"Waiter/awakeable", "SignalWaiter/wait"},
    "docs_develop_error_handling": {"BillingService/checkout"},
}

# Published handlers that are catalogues of API calls rather than programs, not
# counted (docs/compatibility.md lists them with the reason).
EXCLUDED: dict[str, dict[str, str]] = {
    "docs_skills_actions": {
        "MyWorkflow/run": "a catalogue of every context action: it calls itself as another "
                          "workflow, a handler that does not exist and waits on awakeables "
                          "and promises nobody completes",
    },
    "docs_guides_retries": {
        "MyService/myServiceHandler": "calls itself unconditionally: every invocation starts "
                                      "another, without end",
    },
}


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _service_name(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == "name" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    return None


def handlers_of(program: str) -> set[str]:
    tree = ast.parse((PROGRAM_DIR / f"{program}.py").read_text())
    services: dict[str, str] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and _call_name(node.value.func) in KINDS):
            name = _service_name(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name) and name is not None:
                    services[target.id] = name
    found = set(DYNAMIC.get(program, set()))
    for node in ast.walk(tree):
        if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr in ("handler", "main")
                    and isinstance(deco.func.value, ast.Name)
                    and deco.func.value.id in services):
                continue
            name = node.name
            if deco.args and isinstance(deco.args[0], ast.Constant):
                name = str(deco.args[0].value)
            for kw in deco.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    name = str(kw.value.value)
            found.add(f"{services[deco.func.value.id]}/{name}")
    return found - ADDED.get(program, set()) - set(EXCLUDED.get(program, {}))

"""Load user objects named ``module:attribute`` (as pytest and uvicorn do)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from typing import Any

_IMPORTLIB_DIR = os.path.dirname(importlib.__file__)


class LoadError(ValueError):
    """A ``module:attribute`` name that cannot be loaded; says which part failed."""


def read_json(text: str, where: str) -> Any:
    """``text`` (a flag's or a setting's value) as JSON; else a ``ValueError``
    saying why, named by ``where``. Python's reader also fails on what is JSON
    but too big for it, with errors that are no ``JSONDecodeError``: an integer
    of more than 4300 digits (``ValueError``), arrays or objects nested about
    a thousand deep (``RecursionError``)."""
    shown = text if len(text) <= 80 else f"{text[:77]}..."
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        why = str(err)
    except ValueError as err:
        why = f"a number too long to read ({err})"
    except RecursionError:
        why = "nested too deep to read"
    raise ValueError(f"{where} is not JSON ({why}): {shown}")


def load_object(name: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted) and return the object."""
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise LoadError(f"{name!r}: expected module:attribute, like myapp.handlers:greeter")
    problem = _not_a_module_name(module_name, attr)
    if problem is not None and not module_name.endswith(".py"):
        raise LoadError(f"{name!r}: {problem}")  # nothing imported could be named so
    try:
        obj: Any = _import(module_name)
    except ImportError as err:
        # (``pkg.py`` may be a module ``py`` of a package ``pkg``: a file name only if not)
        raise LoadError(f"{name!r}: {problem or f'cannot import module {module_name!r}: {err}'}"
                        ) from None
    except Exception as err:  # noqa: BLE001 - the user's module failed while importing
        why = err.msg if isinstance(err, SyntaxError) else str(err)
        raise LoadError(f"{name!r}: importing module {module_name!r} raised "
                        f"{type(err).__name__}{_raised_at(err)}: {why}") from err
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as err:  # noqa: BLE001 - sys.exit() or the user's own class
        # (not the command's own exit: the module's, while it was imported)
        what = (f"SystemExit (sys.exit({err.code!r}))" if isinstance(err, SystemExit)
                else f"{type(err).__name__}, a BaseException,")
        raise LoadError(f"{name!r}: importing module {module_name!r} raised {what}"
                        f"{_raised_at(err)}{'' if isinstance(err, SystemExit) else f': {err}'}"
                        ) from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(f"{name!r}: module {module_name!r} has no attribute {attr!r}") from None
        except Exception as err:  # noqa: BLE001 - a lazy object's own __getattr__ failed
            raise LoadError(f"{name!r}: reading its attribute {part!r} raised "
                            f"{type(err).__name__}{_raised_at(err)}: {err}") from err
    return obj


def _raised_at(err: BaseException) -> str:
    """`` at file:line`` of the user's code that raised ``err`` while its module was
    imported (a ``SyntaxError`` names its own line), or nothing if unknown."""
    if isinstance(err, SyntaxError) and err.filename:
        return f" at {err.filename}:{err.lineno}"
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not f.filename.startswith("<frozen ")
              and os.path.dirname(f.filename) != _IMPORTLIB_DIR and f.filename != __file__]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _not_a_module_name(module_name: str, attr: str) -> str | None:
    """Why ``module_name`` cannot be imported as it is written (a file path, a
    relative name), with the name to write instead; None if it may be."""
    path = module_name.replace("\\", "/")
    if "/" in path or path.endswith(".py"):
        parts = [p for p in path.removesuffix(".py").split("/") if p not in ("", ".")]
        dotted = ".".join(parts)
        hint = (f", such as {dotted}:{attr}"
                if parts and all(p.isidentifier() for p in dotted.split(".")) else "")
        return (f"{module_name!r} is a file path; give the module's name as Python imports it "
                f"from the current folder{hint}")
    if path.startswith("."):
        return (f"{module_name!r} is a relative module name; give its whole name, as Python "
                f"imports it from the current folder")
    return None


def _import(module_name: str) -> Any:
    """Import a user's module; one that imports ``restate`` where restate-sdk is not
    installed is imported again with ``install_as_restate()``, as the README's
    ``conftest.py`` would have done (only where no ``restate`` exists to be shadowed)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing != "restate" and not missing.startswith("restate."):
            raise
        if "restate" in sys.modules or _importable("restate"):
            raise
    from ._as_restate import install_as_restate

    install_as_restate()
    return importlib.import_module(module_name)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def load_externals(names: list[str], setting: str) -> list[Any]:
    """The fake externals ``names`` (each a FakeExternal or a list of them); a
    name that is something else is a ``LoadError`` naming ``setting`` and the
    name, not an ``AttributeError`` on the first reset."""
    from ._api.external import FakeExternal

    out: list[Any] = []
    for name in names:
        obj = load_object(name)
        for o in obj if isinstance(obj, (list, tuple)) else [obj]:
            if not isinstance(o, FakeExternal):
                raise LoadError(f"{setting}: {name!r} is {type(o).__name__}, not a "
                                f"FakeExternal (or a list of them)")
            out.append(o)
    return out

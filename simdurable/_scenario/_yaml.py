"""Safe YAML with positions: every value keeps the line and column it came from.

Scenario errors must point at ``file:line:col``, so the document is composed
into PyYAML nodes (which carry marks) and turned into plain JSON-like values
here, recording a mark per path. Only the safe tags are understood. Limits on
size, nesting depth and the number of values (aliases included, so an alias
bomb stops early) keep a hostile or broken file from hanging or crashing the
test session: it becomes one clear error instead.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

MAX_BYTES: Final = 1_000_000
MAX_DEPTH: Final = 64
MAX_VALUES: Final = 100_000
# Integers are 64-bit, as in JSON parsers and SQLite: a bigger one is a typo.
MIN_INT: Final = -(2**63)
MAX_INT: Final = 2**63 - 1

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a file."""

    line: int
    col: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, and where."""

    message: str
    path: Path = ()
    mark: Mark | None = None

    def render(self, filename: str) -> str:
        where = filename
        if self.mark is not None:
            where += f":{self.mark.line}:{self.mark.col}"
        field_name = format_path(self.path)
        if field_name:
            return f"{where}: {field_name}: {self.message}"
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario file that cannot be loaded, validated or run as written.

    ``problems`` lists each one with its position; ``str()`` shows them all,
    one per line, as ``file:line:col: field: what is wrong``.
    """

    def __init__(self, filename: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.problems = problems
        super().__init__("\n".join(p.render(filename) for p in problems))


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_<>/\-]+")


def format_path(path: Path) -> str:
    """("invoke", 0, "target") -> "invoke[0].target"; odd keys are quoted: x["a b"]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{json.dumps(part)}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


@dataclass
class Document:
    """A parsed document: the data and where each value (and key) was written."""

    data: Any
    marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)
    # Strings written plain on one line: their text is the file's, character
    # for character, so a column inside one maps to a column in the file.
    verbatim: set[Path] = field(default_factory=set)

    def mark(self, path: Path, *, key: bool = False) -> Mark | None:
        """The mark of ``path`` (its key if ``key``), else of its nearest parent."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        return Problem(message, path, self.mark(path, key=key))


def _mark(m: Any) -> Mark | None:
    return None if m is None else Mark(m.line + 1, m.column + 1)


def _position(text: str | bytes, index: int) -> Mark:
    """The 1-based line and column of ``index`` in ``text``."""
    nl = "\n" if isinstance(text, str) else b"\n"
    line = text.count(nl, 0, index) + 1  # type: ignore[arg-type]
    return Mark(line, index - (text.rfind(nl, 0, index) + 1) + 1)  # type: ignore[arg-type]


def _yaml_problem(err: yaml.YAMLError, text: str) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if isinstance(err, yaml.MarkedYAMLError):
        text_ = err.problem or ""
        context = _mark(err.context_mark)
        if err.context and context is not None and context != _mark(err.problem_mark):
            text_ += f" ({err.context} at {context.line}:{context.col})"
        elif err.context:
            text_ = f"{err.context}: {text_}"
    elif isinstance(err, yaml.reader.ReaderError):
        # A character YAML forbids (a NUL byte, a control character): the
        # reader knows only its offset in the text.
        char = err.character
        code = f"#x{char:04x}" if isinstance(char, int) else f"#x{ord(char):04x}"
        return Problem(f"not valid YAML: the character {code} is not allowed in YAML text "
                       "(only printable characters, tab and newlines are)", (),
                       _position(text, min(err.position, len(text))))
    else:
        text_ = str(err)
    text_ = " ".join((text_ or str(err)).split())
    return Problem(f"not valid YAML: {text_}", (), _mark(mark) or Mark(1, 1))


def _check_shape(loader: yaml.SafeLoader) -> Problem | None:
    """Walk the event stream (no recursion) to refuse documents too deep or too big."""
    depth = 0
    count = 0
    docs = 0
    while loader.check_event():
        event = loader.get_event()  # type: ignore[no-untyped-call]
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(
                    f"nested more than {MAX_DEPTH} levels deep; a scenario needs a few",
                    (), _mark(event.start_mark),
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.DocumentStartEvent):
            docs += 1
            if docs > 1:
                return Problem(
                    "more than one YAML document (---); put each scenario in its own file",
                    (), _mark(event.start_mark),
                )
        count += 1
        if count > MAX_VALUES:
            return Problem(f"more than {MAX_VALUES} YAML values; is this really a scenario?",
                           (), _mark(event.start_mark))
    return None


_constructor = yaml.constructor.SafeConstructor()
_PLAIN_TAGS: Final = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Converter:
    def __init__(self) -> None:
        self.doc = Document(None)
        self.count = 0

    def convert(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _Refused(Problem(
                f"more than {MAX_VALUES} values once aliases are expanded "
                "(an alias bomb?); write the scenario out plainly",
                path, _mark(node.start_mark),
            ))
        if depth > MAX_DEPTH:
            raise _Refused(Problem(
                f"nested more than {MAX_DEPTH} levels deep (a recursive alias?)",
                path, _mark(node.start_mark),
            ))
        mark = _mark(node.start_mark)
        if mark is not None:
            self.doc.marks[path] = mark
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            raise _Refused(Problem(
                f"the tag {node.tag!r} is not supported; scenarios use plain mappings and lists",
                path, mark,
            ))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused(Problem("a key must be a plain string, not a list or mapping",
                                           path, _mark(key_node.start_mark)))
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(Problem(
                        "merge keys (<<) are not supported in scenarios; write the fields out",
                        path, _mark(key_node.start_mark),
                    ))
                key = self.scalar(key_node, path)
                if not isinstance(key, str):
                    raise _Refused(Problem(
                        f"keys must be strings, got {type(key).__name__} {key!r}; quote it",
                        path, _mark(key_node.start_mark),
                    ))
                if key in out:
                    raise _Refused(Problem(f"duplicate key {key!r}", path + (key,),
                                           _mark(key_node.start_mark)))
                key_mark = _mark(key_node.start_mark)
                if key_mark is not None:
                    self.doc.key_marks[path + (key,)] = key_mark
                out[key] = self.convert(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        value = self.scalar(node, path)
        if isinstance(value, str) and node.style is None and node.start_mark is not None \
                and node.end_mark is not None and node.start_mark.line == node.end_mark.line:
            self.doc.verbatim.add(path)
        return value

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        mark = _mark(node.start_mark)
        try:
            value = _constructor.construct_object(node, deep=True)
        except yaml.YAMLError as err:
            why = err.problem if isinstance(err, yaml.MarkedYAMLError) else str(err)
            raise _Refused(Problem(f"cannot read value {_short(node.value)}: {why}", path,
                                   mark)) from None
        except (ValueError, OverflowError):  # an integer of thousands of digits
            raise _Refused(Problem(
                f"cannot read value {_short(node.value)}: a number far too large; "
                f"integers must be between {MIN_INT} and {MAX_INT}", path, mark,
            )) from None
        if isinstance(value, int) and not isinstance(value, bool) \
                and not MIN_INT <= value <= MAX_INT:
            raise _Refused(Problem(
                f"the integer {_short(node.value)} is too large; integers must be between "
                f"{MIN_INT} and {MAX_INT}", path, mark,
            ))
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            raise _Refused(Problem(f"{_short(node.value)} is not a finite number", path, mark))
        raise _Refused(Problem(
            f"{_short(node.value)} reads as a {type(value).__name__}, which scenarios do not "
            "use; put it in quotes to make it a string",
            path, mark,
        ))


def _short(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut short: an error must not echo a 5,000-digit number."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def load_document(text: str | bytes) -> Document:
    """Parse one YAML document safely; raises ``ScenarioError`` with filename ``""``.

    The caller re-raises with its file name (see ``_loader.load_scenario``).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ScenarioError("", [Problem(
                f"the file is more than {MAX_BYTES} bytes; scenarios are limited to that",
                (), Mark(1, 1))])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ScenarioError("", [Problem(
                f"not UTF-8 text: the byte {err.object[err.start]:#04x} cannot start or "
                "continue a character here; save the file as UTF-8", (),
                _position(err.object, err.start),
            )]) from None
    if len(text) > MAX_BYTES:
        raise ScenarioError("", [Problem(
            f"the file is {len(text)} characters; scenarios are limited to {MAX_BYTES}",
            (), Mark(1, 1))])
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        shape = _check_shape(loader)
        if shape is not None:
            raise ScenarioError("", [shape])
        loader.dispose()
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.YAMLError as err:
        raise ScenarioError("", [_yaml_problem(err, text)]) from None
    except (ValueError, OverflowError) as err:
        # The scanner's own errors: an escape like "\U00110000" beyond Unicode.
        raise ScenarioError("", [Problem(
            f"not valid YAML: an escape sequence that is no character ({err}); "
            "characters go up to \\U0010FFFF", (),
            _mark(loader.get_mark()) if loader is not None else Mark(1, 1),
        )]) from None
    except RecursionError:  # pragma: no cover - the shape check stops this first
        raise ScenarioError("", [Problem("nested too deeply to read", (), Mark(1, 1))]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise ScenarioError("", [Problem("the file is empty; a scenario needs at least "
                                         "`services` and `invoke`", (), Mark(1, 1))])
    conv = _Converter()
    try:
        conv.doc.data = conv.convert(node, (), 0)
    except _Refused as refused:
        raise ScenarioError("", [refused.problem]) from None
    return conv.doc

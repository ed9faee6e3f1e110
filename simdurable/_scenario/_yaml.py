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


def _yaml_problem(err: yaml.YAMLError) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if isinstance(err, yaml.MarkedYAMLError):
        text = " ".join(x for x in (err.context, err.problem) if x)
    else:
        text = str(err)
    text = " ".join((text or str(err)).split())
    return Problem(f"not valid YAML: {text}", (), _mark(mark))


def _check_shape(text: str) -> Problem | None:
    """Walk the event stream (no recursion) to refuse documents too deep or too big."""
    depth = 0
    count = 0
    docs = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
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
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        try:
            value = _constructor.construct_object(node, deep=True)
        except yaml.YAMLError as err:
            why = err.problem if isinstance(err, yaml.MarkedYAMLError) else str(err)
            raise _Refused(Problem(f"cannot read value {node.value!r}: {why}", path,
                                   _mark(node.start_mark))) from None
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            raise _Refused(Problem(f"{node.value!r} is not a finite number", path,
                                   _mark(node.start_mark)))
        raise _Refused(Problem(
            f"{node.value!r} reads as a {type(value).__name__}, which scenarios do not use; "
            "put it in quotes to make it a string",
            path, _mark(node.start_mark),
        ))


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
                f"the file is {len(text)} bytes; scenarios are limited to {MAX_BYTES}")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ScenarioError("", [Problem(f"not UTF-8 text: {err}")]) from None
    if len(text) > MAX_BYTES:
        raise ScenarioError("", [Problem(
            f"the file is {len(text)} characters; scenarios are limited to {MAX_BYTES}")])
    try:
        shape = _check_shape(text)
        if shape is not None:
            raise ScenarioError("", [shape])
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ScenarioError("", [_yaml_problem(err)]) from None
    except RecursionError:  # pragma: no cover - the shape check stops this first
        raise ScenarioError("", [Problem("nested too deeply to read")]) from None
    if node is None:
        raise ScenarioError("", [Problem("the file is empty; a scenario needs at least "
                                         "`services` and `invoke`")])
    conv = _Converter()
    try:
        conv.doc.data = conv.convert(node, (), 0)
    except _Refused as refused:
        raise ScenarioError("", [refused.problem]) from None
    return conv.doc

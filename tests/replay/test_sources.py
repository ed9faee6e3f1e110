"""Where journals come from: a dev-executor database, and the JSON export of it.

A foreign, truncated, wrong-version or damaged export is a clear error that
names the file, the invocation and the entry; the reader is fuzzed (bounded).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import simdurable as restate
from simdurable._cli import main
from simdurable._replay import read_export
from simdurable._replay._export import parse_export
from simdurable.runtime._journal import Failure

from ..fuzzing import fuzz
from . import apps


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of the dev executor: a stock update ended, an order in its hour-long sleep."""
    path = tmp_path_factory.mktemp("replay") / "dev.db"
    with restate.Executor(apps.v1, db=path) as ex:
        assert ex.call("Stock/book/take", 3, timeout=10) == 97
        pending = ex.send("Shop/order", "lamp")
        deadline = time.monotonic() + 10
        while len(ex.journal(pending)) < 5:  # reserve, charge and the sleep are stored
            assert time.monotonic() < deadline
            time.sleep(0.01)
    apps.RAN.clear()
    return path


def test_a_database_replays_and_diverges(db: Path) -> None:
    report = restate.replay_journals(apps.same, db)
    assert [(r.verdict, r.ended) for r in report.results] == [
        ("replays", True), ("replays", False)]
    report = restate.replay_journals(apps.renamed, str(db))
    assert [(r.verdict, r.index) for r in report.results] == [("replays", None),
                                                              ("diverges", 2)]
    assert apps.RAN == []


def test_the_export_holds_what_the_database_holds(db: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "journals.json"
    assert main(["export-journals", str(db), "-o", str(out)]) == 0
    assert "2 invocation(s) from" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert (doc["format"], doc["version"], doc["count"]) == ("simdurable-journals", 2, 2)
    assert doc["invocations"][1]["journal"][1]["result"] == {"value": '"r-lamp"'}
    assert doc["invocations"][0]["journal"][0]["kind"] == "get"
    for version in ("same", "renamed", "tail", "gone"):
        services = getattr(apps, version)
        from_db = restate.replay_journals(services, db).results
        from_export = restate.replay_journals(services, out).results
        assert from_export == from_db, version
    again = tmp_path / "again.json"
    restate.export_journals(out, again)
    assert json.loads(again.read_text())["invocations"] == doc["invocations"]


def test_bytes_that_are_not_text_survive_the_export(tmp_path: Path) -> None:
    rec = restate.RecordedInvocation(
        record=_record(b"\xff\x00"), journal=[restate.Entry("get", "k", result=None)])
    out = tmp_path / "bin.json"
    restate.export_journals([rec], out)
    assert json.loads(out.read_text())["invocations"][0]["input"] == {"base64": "/wA="}
    assert read_export(out)[0].record.input == b"\xff\x00"


def test_a_failures_metadata_survives_the_export(tmp_path: Path) -> None:
    failed = Failure(402, "declined", (("reason", "funds"),))
    rec = restate.RecordedInvocation(record=_record(b'"p"'), journal=[
        restate.Entry("run", "charge"), restate.Entry("completion", target=0, result=failed)])
    out = tmp_path / "meta.json"
    restate.export_journals([rec], out)
    entry = json.loads(out.read_text())["invocations"][0]["journal"][1]
    assert entry["result"] == {"failure": {"code": 402, "message": "declined",
                                           "metadata": {"reason": "funds"}}}
    assert read_export(out)[0].journal[1].result == failed


def _record(data: bytes) -> restate.runtime._store.InvocationRecord:  # type: ignore[name-defined]
    from simdurable.runtime._store import InvocationRecord

    return InvocationRecord(id="inv_1", service="Shop", handler="order", key=None, input=data,
                            seq=0)


GOOD = {"format": "simdurable-journals", "version": 1, "source": "x", "count": 1,
        "invocations": [{"id": "inv_a", "service": "Shop", "handler": "order", "key": None,
                         "input": '"book"', "status": "pending", "result": None,
                         "journal": [{"kind": "run", "name": "reserve"},
                                     {"kind": "completion", "target": 0,
                                      "result": {"value": '"r-book"'}}]}]}


def _broken(change: str) -> str:
    doc = json.loads(json.dumps(GOOD))
    inv = doc["invocations"][0]
    if change == "foreign":
        return json.dumps({"hello": "world"})
    if change == "version":
        doc["version"] = 3
    if change == "kind":
        inv["journal"][0]["kind"] = "Run"
    if change == "target":
        inv["journal"][1]["target"] = 5
    if change == "name":
        inv["journal"][0]["name"] = 7
    if change == "count":
        doc["count"] = 3
    if change == "status":
        inv["status"] = "done"
    if change == "base64":
        inv["input"] = {"base64": "!!"}
    if change == "value":  # before: TypeError, 'bool' object is not iterable
        inv["journal"][1]["result"] = {"value": False}
    if change == "metadata":
        inv["journal"][1]["result"] = {"failure": {"code": 1, "message": "m",
                                                   "metadata": {"a": 1}}}
    return json.dumps(doc, indent=1)


@pytest.mark.parametrize(("change", "message"), [
    ("foreign", 'not a simdurable journal export (no "format": "simdurable-journals"'),
    ("version", "a journal export of version 3; this simdurable reads versions 1 and 2"),
    ("kind", "invocation #0 (inv_a): journal entry #0: kind 'Run' is not a journal entry kind"),
    ("target", "invocation #0 (inv_a): journal entry #1: a completion needs a result and the "
               "index of an earlier command"),
    ("name", "invocation #0 (inv_a): journal entry #0: field 'name' is an integer, not a "
             "string"),
    ("count", "says it holds 3 invocations but holds 1"),
    ("status", "invocation #0 (inv_a): field 'status' is 'done'"),
    ("base64", "invocation #0 (inv_a): field 'input': is not valid base64"),
    ("value", "invocation #0 (inv_a): journal entry #1: field 'result': expected a string or "
              '{"base64": "..."}'),
    ("metadata", "journal entry #1: field 'result': field 'metadata': must map names to "
                 "strings"),
])
def test_a_bad_export_names_what_is_wrong(change: str, message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(_broken(change))
    with pytest.raises(restate.JournalSourceError) as err:
        read_export(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert main(["replay-journals", str(path), "tests.replay.apps:same"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("version", "given", "read"), [
    (1, "", None), (1, "k", "k"), (1, None, None),
    (2, "", ""), (2, "k", "k"), (2, None, None)])
def test_an_idempotency_key_reads_as_its_version_wrote_it(
        version: int, given: str | None, read: str | None, tmp_path: Path) -> None:
    # Version 1 (before an empty key was told from none) wrote "" for none:
    # read as an empty key, an old export's invocations all reused one key.
    doc = json.loads(json.dumps(GOOD))
    doc["version"] = version
    doc["invocations"][0]["idempotency_key"] = given
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    assert read_export(path)[0].record.idempotency_key == read


def test_an_export_is_written_in_the_version_that_tells_an_empty_key(tmp_path: Path) -> None:
    from simdurable._replay._core import RecordedInvocation
    from simdurable._replay._export import write_export
    from simdurable.runtime._store import InvocationRecord

    path = tmp_path / "out.json"
    records = [InvocationRecord(id=f"inv_{i}", service="Shop", handler="order", key=None,
                                input=b"1", seq=i, idempotency_key=k)
               for i, k in enumerate(["", None])]
    write_export([RecordedInvocation(r, []) for r in records], path, "x")
    assert json.loads(path.read_text())["version"] == 2
    assert [inv.record.idempotency_key for inv in read_export(path)] == ["", None]


def test_a_truncated_export_says_so_with_its_line(tmp_path: Path) -> None:
    text = _broken("none")
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(restate.JournalSourceError, match=r"cut\.json:\d+:\d+: the export ends "
                                                         r"too early: it was cut short"):
        read_export(path)


def test_other_files_are_refused(tmp_path: Path) -> None:
    for name, content in (("bin.json", b"\xff\xfe"), ("empty.json", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(restate.JournalSourceError, match=name):
            restate.replay_journals(apps.same, tmp_path / name)
    with pytest.raises(restate.JournalSourceError, match="is a directory"):
        restate.replay_journals(apps.same, tmp_path)
    with pytest.raises(TypeError, match="source must be"):
        restate.replay_journals(apps.same, 42)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10) | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["kind", "name", "target", "result", "value", "failure", "journal",
                         "id", "status", "input", "data", "base64", "code", "message"]),
        kids, max_size=4),
    max_leaves=12,
)


@fuzz(150)
@given(mutation=st.tuples(st.sampled_from(["invocation", "entry", "completion", "text"]),
                          _json, st.integers(0, 400)))
def test_fuzzed_exports_give_a_clear_error_or_invocations(
        mutation: tuple[str, object, int]) -> None:
    where, value, cut = mutation
    doc = json.loads(json.dumps(GOOD))
    inv = doc["invocations"][0]
    if where == "invocation" and isinstance(value, dict):
        inv.update(value)
    elif where == "entry":
        inv["journal"].append(value)
    elif where == "completion":
        inv["journal"][1]["result"] = value
    text = json.dumps(doc)
    if where == "text":
        text = text[:cut]
    try:
        got = parse_export(text, "f.json")
    except restate.JournalSourceError as err:
        assert str(err).startswith("f.json")
    else:
        assert len(got) == 1
        restate.replay_journals(apps.same, got)  # and replaying them never raises


def test_an_unparsable_input_restate_recorded_replays_as_the_same_end(tmp_path: Path) -> None:
    """restate-server 1.7.12 with restate-sdk 1.3.0 (2026-12-06) records the body
    ``nope`` sent to a handler typed ``x: dict`` as this failed end, with no
    journal. A handler written with simdurable's own API failed it as 400
    "Unable to parse an input argument of Probe/echo: ...", and replay-journals
    called every such invocation a divergence."""
    probe = restate.Service("Probe")

    @probe.handler()
    async def echo(ctx: restate.Context, x: dict[str, int]) -> dict[str, int]:
        return x

    export = {"format": "simdurable-journals", "version": 1, "source": "http://127.0.0.1:9070",
              "count": 1, "invocations": [{
                  "id": "inv_13k6dJZ3tiUV1TB48Fsru8UawHr9Zn3VJ1", "service": "Probe",
                  "handler": "echo", "key": None, "input": "nope", "status": "completed",
                  "result": {"failure": {"code": 500, "message": "Unable to parse an input "
                                         "argument. Expecting value: line 1 column 1 (char 0)"}},
                  "attempts": 0, "headers": {"content-type": "application/json"},
                  "idempotency_key": "", "journal": [], "as_stored": True}]}
    path = tmp_path / "restate.json"
    path.write_text(json.dumps(export))
    report = restate.replay_journals([probe], path)
    assert [r.verdict for r in report.results] == ["replays"], report.summary()

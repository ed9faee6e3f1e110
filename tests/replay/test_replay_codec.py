"""Replaying journals an app with a ``journal_value_codec`` stored.

A Restate server, and ``simdurable serve`` now, store what the codec encodes.
The replay read those bytes as the handler's values and compared the code's
payloads with them: every invocation of such an app "diverged" at its first
stored value (or failed to read it), whatever the code. It now decodes them as
restate-sdk does, and matches commands without payloads, as its VM does with a
codec.
"""

from __future__ import annotations

from pathlib import Path

from simdurable._live import Executor
from simdurable._replay import export_journals, replay_journals

from ..live.codec_app import Masking, app, ledger, pricing


def _record(db: Path) -> None:
    with Executor(app, db=db) as ex:
        assert ex.call("Ledger/a/buy", "tea") == {"item": "tea", "total": 300}
        assert ex.call("Ledger/a/buy", "jam") == {"item": "jam", "total": 600}


def test_journals_stored_through_the_codec_replay(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _record(db)
    report = replay_journals(app, db)
    assert report.ok and report.count("replays") == 4, report.summary()
    export = tmp_path / "x.json"
    assert export_journals(db, export) == 4
    assert replay_journals(app, export).count("replays") == 4


def test_a_journal_the_codec_cannot_decode_is_not_judged_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    with Executor([ledger, pricing], db=db) as ex:  # written without the codec
        ex.call("Ledger/a/buy", "tea")
    report = replay_journals(app, db)
    assert report.count("cannot-judge") == 2, report.summary()
    reason = report.results[0].reason
    assert "journal_value_codec.decode raised ValueError: not a value this codec encoded" \
        in reason and "on journal entry #0" in reason


def test_a_simulation_store_holds_plain_values(tmp_path: Path) -> None:
    import simdurable as sd

    sim = sd.Simulation(app)
    sim.invoke("Ledger/a/buy", "tea")
    sim.run()
    assert replay_journals(app, sim).count("replays") == 2
    assert Masking  # (the codec the app has)

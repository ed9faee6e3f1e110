"""The checkers: explore faults and schedules, judge the properties, report.

``check`` is the entry point; ``replay``/``replaying``/``reproduce`` rerun one
case; ``always``/``sometimes`` let handlers state properties of their own.
"""

from ._api import check as check, replay as replay
from ._assertions import always as always, sometimes as sometimes
from ._chrome import chrome_trace as chrome_trace, write_chrome_trace as write_chrome_trace
from ._coverage import CoverageReport as CoverageReport
from ._properties import Outcome as Outcome
from ._replay import (
    DidNotReproduce as DidNotReproduce,
    replaying as replaying,
    reproduce as reproduce,
)
from ._report import Report as Report, Violation as Violation
from ._world import WorldError as WorldError, WorldEvent as WorldEvent

__all__ = [
    "CoverageReport", "DidNotReproduce", "Outcome", "Report", "Violation", "WorldError",
    "WorldEvent", "always",
    "check", "chrome_trace", "replay", "replaying", "reproduce", "sometimes",
    "write_chrome_trace",
]

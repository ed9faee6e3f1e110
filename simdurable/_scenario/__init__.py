"""YAML fault scenarios: load (with line:col errors), validate, run.

A scenario file names services, invocations, faults, outside events and
expectations. Its first line can point editors (through the YAML language
server) at the JSON Schema shipped in the package, for completion and
checking as you type::

    # yaml-language-server: $schema=<path to simdurable/scenario.schema.json>

``simdurable scenario --schema`` prints that path; a path relative to the
scenario file works too.
"""

from ._model import (
    Scenario as Scenario,
    load_scenario as load_scenario,
    parse_scenario as parse_scenario,
)
from ._runner import ScenarioResult as ScenarioResult, run_scenario as run_scenario
from ._schema import schema as schema
from ._yaml import Problem as Problem, ScenarioError as ScenarioError

__all__ = [
    "Problem", "Scenario", "ScenarioError", "ScenarioResult", "load_scenario",
    "parse_scenario", "run_scenario", "schema",
]

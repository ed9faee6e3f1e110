"""Every program's cases, gathered from the per-source files."""

from tests.compat.cases_docs import CASES as DOCS
from tests.compat.cases_examples import CASES as EXAMPLES
from tests.compat.cases_sdk import CASES as SDK
from tests.compat.harness import Case

CASES: dict[str, list[Case]] = {**SDK, **EXAMPLES, **DOCS}

# Programs whose cases need the services of other program modules too.
HOSTS: dict[str, tuple[str, ...]] = {
    "sdk_ts_proxy": ("sdk_ts_test_utils", "sdk_ts_counter"),
    "sdk_ts_command_interpreter": ("sdk_ts_test_utils",),
}

"""Settings shared by the fuzz tests: bounded in CI, longer on request.

``SIMDURABLE_FUZZ_SCALE=N`` multiplies every fuzz test's examples by N (for
example ``SIMDURABLE_FUZZ_SCALE=50 pytest -q tests -k fuzz``), for a long
run before a release or after changing a parser.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def scale() -> int:
    text = os.environ.get("SIMDURABLE_FUZZ_SCALE", "1")
    try:
        return max(1, int(text))
    except ValueError:
        raise ValueError(f"SIMDURABLE_FUZZ_SCALE must be a whole number, not {text!r}") from None


def fuzz(examples: int) -> settings:
    """Hypothesis settings for a fuzz test of ``examples`` examples (times the scale)."""
    return settings(max_examples=examples * scale(), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

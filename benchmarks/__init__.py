"""simdurable's benchmarks: ``python -m benchmarks.run`` (see BENCHMARKS.md)."""

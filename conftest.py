"""Root conftest: makes the repository's ``examples`` importable in tests."""

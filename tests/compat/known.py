"""The cases that fail today, per mode, and why (kept by ``report --update-known``).

``test_compat`` requires exactly these to fail: a case that starts to pass
must leave this list, and a case that starts to fail must be explained here.
"""

KNOWN: dict[str, dict[tuple[str, str], str]] = {'real': {}, 'swap': {}}

"""The cases that fail today, per mode, and why (kept by ``report --update-known``).

``test_compat`` requires exactly these to fail: a case that starts to pass
must leave this list, and a case that starts to fail must be explained here.
"""

KNOWN: dict[str, dict[tuple[str, str], str]] = {'real': {('sdk_ts_command_interpreter', 'a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'reject a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'resolve a signal'): 'signals are not supported yet'},
 'swap': {('sdk_ts_command_interpreter', 'a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'reject a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'resolve a signal'): 'signals are not supported yet'}}

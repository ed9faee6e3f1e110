"""The cases that fail today, per mode, and why (kept by ``report --update-known``).

``test_compat`` requires exactly these to fail: a case that starts to pass
must leave this list, and a case that starts to fail must be explained here.
"""

KNOWN: dict[str, dict[tuple[str, str], str]] = {'real': {('docs_develop_error_handling', 'the metadata reaches the caller'): "a terminal error's "
                                                                              'metadata does not '
                                                                              'reach the caller of '
                                                                              'a call that failed '
                                                                              'with it; Restate '
                                                                              'passes it on',},
 'swap': {('docs_develop_error_handling', 'the metadata reaches the caller'): "a terminal error's "
                                                                              'metadata does not '
                                                                              'reach the caller of '
                                                                              'a call that failed '
                                                                              'with it; Restate '
                                                                              'passes it on',
          ('docs_foundations_actions', 'a timer around a call'): "a call's argument is not written "
                                                                 "with the callee's input serde: a "
                                                                 'dict passed where the callee '
                                                                 'takes a pydantic model goes '
                                                                 'through, where restate-sdk fails '
                                                                 'the handler',
          ('docs_foundations_actions', 'calls'): "a call's argument is not written with the "
                                                 "callee's input serde: a dict passed where the "
                                                 'callee takes a pydantic model goes through, '
                                                 'where restate-sdk fails the handler',}}

"""The cases that fail today, per mode, and why (kept by ``report --update-known``).

``test_compat`` requires exactly these to fail: a case that starts to pass
must leave this list, and a case that starts to fail must be explained here.
"""

KNOWN: dict[str, dict[tuple[str, str], str]] = {'real': {('docs_develop_error_handling', 'terminal errors with codes'): "a terminal error's "
                                                                         'metadata does not reach '
                                                                         'the caller of a call '
                                                                         'that failed with it; '
                                                                         'Restate passes it on',
          ('docs_develop_service_communication', 'every call and send'): "calling a workflow's run "
                                                                         'again for an id that '
                                                                         'already ran fails with '
                                                                         '409 here; Restate gives '
                                                                         'the caller the first '
                                                                         "run's outcome (issue 12, "
                                                                         'item 6)',
          ('docs_develop_signals', 'a signal sent before the wait'): 'signals are not supported '
                                                                     'yet',
          ('docs_develop_signals', 'approved'): 'signals are not supported yet',
          ('docs_develop_signals', 'denied'): 'signals are not supported yet',
          ('docs_develop_signals', 'steered once'): 'signals are not supported yet',
          ('docs_foundations_invocations', 'attach to a keyed send'): 'ctx.attach_invocation() is '
                                                                      'not supported yet',
          ('sdk_ts_command_interpreter', 'a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'reject a signal'): 'signals are not supported yet',
          ('sdk_ts_test_utils', 'resolve a signal'): 'signals are not supported yet'},
 'swap': {('docs_develop_durable_promise', 'review submitted'): 'the import swap lacks a public '
                                                                'name of restate',
          ('docs_develop_error_handling', 'RetryableError: retried'): 'the import swap lacks a '
                                                                      'restate submodule the '
                                                                      'program imports',
          ('docs_develop_error_handling', 'rate limited twice, then served'): 'the import swap '
                                                                              'lacks a restate '
                                                                              'submodule the '
                                                                              'program imports',
          ('docs_develop_error_handling', 'terminal errors with codes'): 'the import swap lacks a '
                                                                         'restate submodule the '
                                                                         'program imports',
          ('docs_develop_journaling', 'confirmed'): 'the import swap lacks a public name of '
                                                    'restate',
          ('docs_develop_journaling', 'denied'): 'the import swap lacks a public name of restate',
          ('docs_develop_journaling', 'race and cancel the slower'): 'the import swap lacks a '
                                                                     'public name of restate',
          ('docs_develop_logging', 'greet'): 'the import swap lacks a public name of restate',
          ('docs_develop_my_service', 'greet'): 'the import swap lacks a public name of restate',
          ('docs_develop_my_virtual_object', 'both handlers'): 'the import swap lacks a public '
                                                               'name of restate',
          ('docs_develop_my_workflow', 'run and interact'): 'the import swap lacks a public name '
                                                            'of restate',
          ('docs_develop_retries', 'a write that fails twice'): 'the import swap lacks a restate '
                                                                'submodule the program imports',
          ('docs_develop_serialization', 'a serde that cannot write the result'): 'the import swap '
                                                                                  'lacks a restate '
                                                                                  'submodule the '
                                                                                  'program imports',
          ('docs_develop_serialization', 'msgspec'): 'the import swap lacks a restate submodule '
                                                     'the program imports',
          ('docs_develop_serialization', 'pydantic'): 'the import swap lacks a restate submodule '
                                                      'the program imports',
          ('docs_develop_service_communication', 'every call and send'): 'the import swap lacks a '
                                                                         'public name of restate',
          ('docs_develop_signals', 'a signal sent before the wait'): 'signals are not supported '
                                                                     'yet',
          ('docs_develop_signals', 'approved'): 'signals are not supported yet',
          ('docs_develop_signals', 'denied'): 'signals are not supported yet',
          ('docs_develop_signals', 'steered once'): 'signals are not supported yet',
          ('docs_develop_testing', 'greet'): 'the import swap lacks a public name of restate',
          ('docs_foundations_actions', 'steps, calls, sends'): "a call's argument is not written "
                                                               "with the callee's input serde: a "
                                                               'dict passed where the callee takes '
                                                               'a pydantic model goes through, '
                                                               'where restate-sdk fails the '
                                                               'handler',
          ('docs_foundations_invocations', 'attach to a keyed send'): 'ctx.attach_invocation() is '
                                                                      'not supported yet',
          ('docs_guides_retries', 'served at once'): 'the import swap lacks a restate submodule '
                                                     'the program imports',
          ('docs_guides_retries', 'the body decoded'): 'the import swap lacks a restate submodule '
                                                       'the program imports',
          ('docs_services_cancellation', 'an order processed'): 'the import swap lacks a restate '
                                                                'submodule the program imports',
          ('docs_services_cancellation', 'notify'): 'the import swap lacks a restate submodule the '
                                                    'program imports',
          ('docs_services_configuration', 'run with every option'): 'the import swap lacks a '
                                                                    'public name of restate',
          ('docs_skills_serialization', 'a serde that cannot write the result'): 'the import swap '
                                                                                 'lacks a restate '
                                                                                 'submodule the '
                                                                                 'program imports',
          ('docs_skills_serialization', 'pydantic greeting'): 'the import swap lacks a restate '
                                                              'submodule the program imports',
          ('docs_tour_lambda', 'run'): 'the import swap lacks a public name of restate',
          ('docs_tour_retries', 'pay'): 'the import swap lacks a public name of restate',
          ('docs_tour_terminal_error', 'invalid card'): 'simdurable.exceptions does not exist yet '
                                                        '(the handler imports it in its body, so '
                                                        'the invocation retries)',
          ('docs_usecases_delivery_tracker', 'register, move, read'): 'the import swap lacks a '
                                                                      'restate submodule the '
                                                                      'program imports',
          ('docs_usecases_user_feed', 'moderated once'): 'the import swap lacks a public name of '
                                                         'restate',
          ('ex_basics_building_blocks', 'the catalogue'): 'the import swap lacks a public name of '
                                                          'restate',
          ('ex_basics_durable_execution', 'subscribe'): 'the import swap lacks a public name of '
                                                        'restate',
          ('ex_basics_virtual_objects', 'greet twice, ungreet'): 'the import swap lacks a public '
                                                                 'name of restate',
          ('ex_basics_workflows', 'a wrong secret'): 'the import swap lacks a public name of '
                                                     'restate',
          ('ex_basics_workflows', 'sign up with the emailed secret'): 'the import swap lacks a '
                                                                      'public name of restate',
          ('ex_durablerpc', 'reserve once'): 'the import swap lacks a public name of restate',
          ('ex_eventenrichment', 'register, update, read'): 'the import swap lacks a restate '
                                                            'submodule the program imports',
          ('ex_eventenrichment', 'unknown package'): 'the import swap lacks a restate submodule '
                                                     'the program imports',
          ('ex_eventtransactions', 'a post waits for moderation'): 'the import swap lacks a public '
                                                                   'name of restate',
          ('ex_lambda_cdk_greeter', 'greet'): 'the import swap lacks a public name of restate',
          ('ex_parallelizework', 'fan out and gather'): 'the import swap lacks a public name of '
                                                        'restate',
          ('ex_queueing', 'run'): 'the import swap lacks a public name of restate',
          ('ex_sagas', 'the hotel refuses: compensations run'): 'the import swap lacks a restate '
                                                                'submodule the program imports',
          ('ex_schedulingtasks', 'paid: no reminder'): 'the import swap lacks a public name of '
                                                       'restate',
          ('ex_schedulingtasks', 'three reminders then escalation'): 'the import swap lacks a '
                                                                     'public name of restate',
          ('ex_signalspayments', 'a webhook without signature'): 'the import swap lacks a restate '
                                                                 'submodule the program imports',
          ('ex_signalspayments', 'completed by the webhook'): 'the import swap lacks a restate '
                                                              'submodule the program imports',
          ('ex_signalspayments', 'declined'): 'the import swap lacks a restate submodule the '
                                              'program imports',
          ('ex_signalspayments', 'no amount'): 'the import swap lacks a restate submodule the '
                                               'program imports',
          ('ex_signalspayments', 'synchronous success'): 'the import swap lacks a restate '
                                                         'submodule the program imports',
          ('ex_statefulactors', 'up and down'): 'the import swap lacks a public name of restate',
          ('ex_statemachine_accounts', 'withdraw and deposit'): 'the import swap lacks a restate '
                                                                'submodule the program imports',
          ('ex_statemachine_processor', 'cancel before paying'): 'the import swap lacks a restate '
                                                                 'submodule the program imports',
          ('ex_statemachine_processor', 'pay then cancel: refunded, then expired'): 'the import '
                                                                                    'swap lacks a '
                                                                                    'restate '
                                                                                    'submodule the '
                                                                                    'program '
                                                                                    'imports',
          ('ex_syncasync', 'upload, then the email'): 'the import swap lacks a public name of '
                                                      'restate',
          ('ex_tour_orch_concurrent', 'a terminal failure in one'): 'gather raises the terminal '
                                                                    'error of a future it waits '
                                                                    "for; restate's gather returns "
                                                                    'the futures and raises '
                                                                    'nothing',
          ('sdk_ex_app', "the app's services"): 'the import swap lacks a public name of restate',
          ('sdk_ex_greeter', 'greet'): 'the import swap lacks a public name of restate',
          ('sdk_ex_msgspec_greeter', 'greet'): 'a msgspec Struct result is not serialised by the '
                                               'default serde (the invocation retries)',
          ('sdk_ts_awakeable_holder', 'hold then ask'): 'the import swap lacks a restate submodule '
                                                        'the program imports',
          ('sdk_ts_awakeable_holder', 'unlock without one'): 'the import swap lacks a restate '
                                                             'submodule the program imports',
          ('sdk_ts_block_and_wait', 'unblocked run'): 'the import swap lacks a restate submodule '
                                                      'the program imports',
          ('sdk_ts_cancel_test', 'cancel while blocked on AWAKEABLE'): 'the import swap lacks a '
                                                                       'restate submodule the '
                                                                       'program imports',
          ('sdk_ts_cancel_test', 'cancel while blocked on CALL'): 'the import swap lacks a restate '
                                                                  'submodule the program imports',
          ('sdk_ts_cancel_test', 'cancel while blocked on SLEEP'): 'the import swap lacks a '
                                                                   'restate submodule the program '
                                                                   'imports',
          ('sdk_ts_cancel_test', 'verify before any test'): 'the import swap lacks a restate '
                                                            'submodule the program imports',
          ('sdk_ts_command_interpreter', 'a signal'): 'the import swap lacks a public name of '
                                                      'restate',
          ('sdk_ts_command_interpreter', 'all fail'): 'the import swap lacks a public name of '
                                                      'restate',
          ('sdk_ts_command_interpreter', 'awakeable before the timeout'): 'the import swap lacks a '
                                                                          'public name of restate',
          ('sdk_ts_command_interpreter', 'awakeable or timeout'): 'the import swap lacks a public '
                                                                  'name of restate',
          ('sdk_ts_command_interpreter', 'combinators'): 'the import swap lacks a public name of '
                                                         'restate',
          ('sdk_ts_command_interpreter', 'reject an awakeable'): 'the import swap lacks a public '
                                                                 'name of restate',
          ('sdk_ts_command_interpreter', 'steps and sleeps'): 'the import swap lacks a public name '
                                                              'of restate',
          ('sdk_ts_counter', 'add, get, fail, reset'): 'the import swap lacks a restate submodule '
                                                       'the program imports',
          ('sdk_ts_failing', 'a step gives up after its attempts'): 'the import swap lacks a '
                                                                    'restate submodule the program '
                                                                    'imports',
          ('sdk_ts_failing', 'a step succeeds after three attempts'): 'the import swap lacks a '
                                                                      'restate submodule the '
                                                                      'program imports',
          ('sdk_ts_failing', 'retried handler succeeds on the fourth attempt'): 'the import swap '
                                                                                'lacks a restate '
                                                                                'submodule the '
                                                                                'program imports',
          ('sdk_ts_failing', 'terminal errors'): 'the import swap lacks a restate submodule the '
                                                 'program imports',
          ('sdk_ts_interpreter', 'helper directly'): 'the import swap lacks a restate submodule '
                                                     'the program imports',
          ('sdk_ts_interpreter', 'three layers'): 'the import swap lacks a restate submodule the '
                                                  'program imports',
          ('sdk_ts_kill_test', 'a call tree that blocks on itself'): 'the import swap lacks a '
                                                                     'restate submodule the '
                                                                     'program imports',
          ('sdk_ts_non_determinism', 'backgroundInvokeWithDifferentTargets ends and bumps the counter once'): 'the '
                                                                                                              'import '
                                                                                                              'swap '
                                                                                                              'lacks '
                                                                                                              'a '
                                                                                                              'restate '
                                                                                                              'submodule '
                                                                                                              'the '
                                                                                                              'program '
                                                                                                              'imports',
          ('sdk_ts_non_determinism', 'callDifferentMethod ends and bumps the counter once'): 'the '
                                                                                             'import '
                                                                                             'swap '
                                                                                             'lacks '
                                                                                             'a '
                                                                                             'restate '
                                                                                             'submodule '
                                                                                             'the '
                                                                                             'program '
                                                                                             'imports',
          ('sdk_ts_non_determinism', 'eitherSleepOrCall ends and bumps the counter once'): 'the '
                                                                                           'import '
                                                                                           'swap '
                                                                                           'lacks '
                                                                                           'a '
                                                                                           'restate '
                                                                                           'submodule '
                                                                                           'the '
                                                                                           'program '
                                                                                           'imports',
          ('sdk_ts_non_determinism', 'setDifferentKey ends and bumps the counter once'): 'the '
                                                                                         'import '
                                                                                         'swap '
                                                                                         'lacks a '
                                                                                         'restate '
                                                                                         'submodule '
                                                                                         'the '
                                                                                         'program '
                                                                                         'imports',
          ('sdk_ts_proxy', 'call, send, many'): 'the import swap lacks a restate submodule the '
                                                'program imports',
          ('sdk_ts_test_utils', 'cancel another invocation'): 'the import swap lacks a restate '
                                                              'submodule the program imports',
          ('sdk_ts_test_utils', 'echoes'): 'the import swap lacks a restate submodule the program '
                                           'imports',
          ('sdk_ts_test_utils', 'reject a signal'): 'the import swap lacks a restate submodule the '
                                                    'program imports',
          ('sdk_ts_test_utils', 'resolve a signal'): 'the import swap lacks a restate submodule '
                                                     'the program imports'}}

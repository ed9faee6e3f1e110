"""Where each program was rewritten from (repository, path); all MIT-licensed."""

SDK = "restatedev/sdk-python"
EXAMPLES = "restatedev/examples"
DOCS = "restatedev/docs-restate"

SOURCES: dict[str, str] = {
    "ex_food_ordering":
        f"{EXAMPLES} python/end-to-end-applications/food-ordering/app/ordering/",
    "docs_develop_awakeables": f"{DOCS} snippets/python/src/develop/awakeables.py",
    "docs_develop_durable_promise": f"{DOCS} snippets/python/src/develop/durable_promise.py",
    "docs_develop_durable_timers": f"{DOCS} snippets/python/src/develop/durable_timers.py",
    "docs_develop_error_handling": f"{DOCS} snippets/python/src/develop/error_handling.py",
    "docs_develop_journaling": f"{DOCS} snippets/python/src/develop/journaling_results.py",
    "docs_develop_kafka": f"{DOCS} snippets/python/src/develop/kafka.py",
    "docs_develop_logging": f"{DOCS} snippets/python/src/develop/logging.py",
    "docs_develop_my_service": f"{DOCS} snippets/python/src/develop/my_service.py",
    "docs_develop_my_virtual_object": f"{DOCS} snippets/python/src/develop/my_virtual_object.py",
    "docs_develop_my_workflow": f"{DOCS} snippets/python/src/develop/my_workflow.py",
    "docs_develop_retries": f"{DOCS} snippets/python/src/develop/retries.py",
    "docs_develop_serialization": f"{DOCS} snippets/python/src/develop/serialization.py",
    "docs_develop_service_communication": f"{DOCS} snippets/python/src/develop/service_communication.py",
    "docs_develop_signals": f"{DOCS} snippets/python/src/develop/signals.py",
    "docs_develop_state": f"{DOCS} snippets/python/src/develop/state.py",
    "docs_develop_testing": f"{DOCS} snippets/python/src/develop/testing.py",
    "docs_skills_actions": f"{DOCS} snippets/python/src/develop/skillsmd/actions.py",
    "docs_skills_error_handling": f"{DOCS} snippets/python/src/develop/skillsmd/error_handling.py",
    "docs_skills_serialization": f"{DOCS} snippets/python/src/develop/skillsmd/serialization.py",
    "docs_foundations_actions": f"{DOCS} snippets/python/src/foundations/actions/actions.py",
    "docs_foundations_services": f"{DOCS} snippets/python/src/foundations/actions/ (the services it calls)",
    "docs_foundations_invocations": f"{DOCS} snippets/python/src/foundations/invocations/client.py",
    "docs_foundations_basic_service": f"{DOCS} snippets/python/src/foundations/services/basic_service.py, app.py",
    "docs_foundations_object": f"{DOCS} snippets/python/src/foundations/services/object.py",
    "docs_foundations_workflow": f"{DOCS} snippets/python/src/foundations/services/workflow.py",
    "docs_guides_retries": f"{DOCS} snippets/python/src/guides/retries.py",
    "docs_services_cancellation": f"{DOCS} snippets/python/src/services/cancellation_example.py",
    "docs_services_configuration": f"{DOCS} snippets/python/src/services/configuration.py",
    "docs_tour_retries": f"{DOCS} snippets/python/src/tour/microservices/retries.py",
    "docs_tour_terminal_error": f"{DOCS} snippets/python/src/tour/microservices/terminal_error.py, tour/workflows/terminal_error.py",
    "docs_tour_lambda": f"{DOCS} snippets/python/src/tour/workflows/lambda_handler.py",
    "docs_usecases_delivery_tracker": f"{DOCS} snippets/python/src/usecases/eventprocessing/delivery_tracker.py",
    "docs_usecases_user_feed": f"{DOCS} snippets/python/src/usecases/eventprocessing/user_feed.py, utils.py",
    "docs_usecases_microservices": f"{DOCS} snippets/python/src/usecases/microservices/ (booking, order, service_actions, user_account)",
    "docs_usecases_external_signup": f"{DOCS} snippets/python/src/usecases/workflows/external_signup.py",
    "docs_usecases_signup": f"{DOCS} snippets/python/src/usecases/workflows/signup.py",
    "docs_usecases_workflow_actions": f"{DOCS} snippets/python/src/usecases/workflows/workflow_actions.py",
    "ex_template_greeter":
        f"{EXAMPLES} python/templates/python/app/greeter.py, utils.py",
    "ex_lambda_cdk_greeter":
        f"{EXAMPLES} python/integrations/deployment-lambda-cdk/lib/lambda/handler.py",
    "ex_tour_orch_utils":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/utils.py, types.py",
    "ex_tour_orch_communication":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/communication/service.py",
    "ex_tour_orch_concurrent":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/concurrenttasks/service.py",
    "ex_tour_orch_events":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/events/service.py",
    "ex_tour_orch_getstarted":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/getstarted/service.py",
    "ex_tour_orch_objects":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/objects/service.py",
    "ex_tour_orch_sagas":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/sagas/service.py",
    "ex_tour_orch_timers":
        f"{EXAMPLES} python/tutorials/tour-of-orchestration-python/app/timers/service.py",
    "ex_tour_wf_utils":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/utils.py",
    "ex_tour_wf_signup":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_workflow.py",
    "ex_tour_wf_activities":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_activities.py",
    "ex_tour_wf_events":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_events.py",
    "ex_tour_wf_queries":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_queries.py",
    "ex_tour_wf_retries":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_retries.py",
    "ex_tour_wf_sagas":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_sagas.py",
    "ex_tour_wf_signals":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_signals.py",
    "ex_tour_wf_timers":
        f"{EXAMPLES} python/tutorials/tour-of-workflows-python/app/workflows/signup_with_timers.py",
    "ex_basics_utils": f"{EXAMPLES} python/basics/app/utils.py",
    "ex_basics_durable_execution": f"{EXAMPLES} python/basics/app/0_durable_execution.py",
    "ex_basics_building_blocks": f"{EXAMPLES} python/basics/app/1_building_blocks.py",
    "ex_basics_virtual_objects": f"{EXAMPLES} python/basics/app/2_virtual_objects.py",
    "ex_basics_workflows": f"{EXAMPLES} python/basics/app/3_workflows.py",
    "ex_durablerpc": f"{EXAMPLES} python/patterns-use-cases/durablerpc/app.py",
    "ex_eventenrichment": f"{EXAMPLES} python/patterns-use-cases/eventenrichment/app.py",
    "ex_eventtransactions": f"{EXAMPLES} python/patterns-use-cases/eventtransactions/app.py, utils.py",
    "ex_parallelizework": f"{EXAMPLES} python/patterns-use-cases/parallelizework/app.py, utils.py",
    "ex_queueing": f"{EXAMPLES} python/patterns-use-cases/queueing/app.py",
    "ex_sagas": f"{EXAMPLES} python/patterns-use-cases/sagas/app.py, clients/",
    "ex_schedulingtasks": f"{EXAMPLES} python/patterns-use-cases/schedulingtasks/app.py, utils.py",
    "ex_signalspayments": f"{EXAMPLES} python/patterns-use-cases/signalspayments/app.py, stripe_utils.py",
    "ex_statefulactors": f"{EXAMPLES} python/patterns-use-cases/statefulactors/app.py, utils.py",
    "ex_statemachine_accounts": f"{EXAMPLES} python/patterns-use-cases/statemachinepayments/accounts.py",
    "ex_statemachine_processor": f"{EXAMPLES} python/patterns-use-cases/statemachinepayments/payment_processor.py, app.py",
    "ex_syncasync": f"{EXAMPLES} python/patterns-use-cases/syncasync/app.py, utils.py",
    "sdk_ex_app": f"{SDK} examples/example.py",
    "sdk_ex_concurrent_greeter": f"{SDK} examples/concurrent_greeter.py",
    "sdk_ex_greeter": f"{SDK} examples/greeter.py",
    "sdk_ex_msgspec_greeter": f"{SDK} examples/msgspec_greeter.py",
    "sdk_ex_pydantic_greeter": f"{SDK} examples/pydantic_greeter.py",
    "sdk_ex_random_greeter": f"{SDK} examples/random_greeter.py",
    "sdk_ex_virtual_object": f"{SDK} examples/virtual_object.py",
    "sdk_ex_workflow": f"{SDK} examples/workflow.py",
    "sdk_ts_awakeable_holder": f"{SDK} test-services/services/awakeable_holder.py",
    "sdk_ts_block_and_wait": f"{SDK} test-services/services/block_and_wait_workflow.py",
    "sdk_ts_cancel_test": f"{SDK} test-services/services/cancel_test.py",
    "sdk_ts_command_interpreter":
        f"{SDK} test-services/services/virtual_object_command_interpreter.py",
    "sdk_ts_counter": f"{SDK} test-services/services/counter.py",
    "sdk_ts_failing": f"{SDK} test-services/services/failing.py",
    "sdk_ts_interpreter": f"{SDK} test-services/services/interpreter.py",
    "sdk_ts_kill_test": f"{SDK} test-services/services/kill_test.py",
    "sdk_ts_list_object": f"{SDK} test-services/services/list_object.py",
    "sdk_ts_map_object": f"{SDK} test-services/services/map_object.py",
    "sdk_ts_non_determinism": f"{SDK} test-services/services/non_determinism.py",
    "sdk_ts_proxy": f"{SDK} test-services/services/proxy.py",
    "sdk_ts_test_utils": f"{SDK} test-services/services/test_utils.py",
}

"""Where each program was rewritten from (repository, path); all MIT-licensed."""

SDK = "restatedev/sdk-python"
EXAMPLES = "restatedev/examples"
DOCS = "restatedev/docs-restate"

SOURCES: dict[str, str] = {
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

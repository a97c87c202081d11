"""Markers that transformers' common test files and `transformers.testing_utils` put on tests (transformers registers
them in its own conftest, which its source distribution does not ship; our `--strict-markers` needs them named)."""

TRANSFORMERS_MARKERS = (
    "accelerate_tests", "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test",
    "is_agent_test", "is_expert_parallel_test", "is_fsdp_test", "is_pipeline_test", "is_staging_test",
    "is_tensor_parallel_test", "is_training_test", "order", "bitsandbytes", "not_device_test", "generate",
)


def pytest_configure(config):
    for marker in TRANSFORMERS_MARKERS:
        config.addinivalue_line("markers", f"{marker}: set by transformers' common tests")

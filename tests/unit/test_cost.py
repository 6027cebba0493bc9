"""bench/cost.py: docs/cost.md is the model's output for the committed template and bench
results, and the model moves the way the settings say it should."""

import dataclasses

from bench import cost


def test_cost_doc_is_regenerated_from_the_template_and_bench_results():
    """Fails when template.yaml or bench/results.json changed without `python -m bench.cost`."""
    assert cost.DOC.read_text() == cost.render(cost.read_inputs())


def test_template_memory_is_the_models_pick():
    inputs = cost.read_inputs()
    assert inputs.memory_mb == cost.pick_memory(inputs)


def test_authorizer_cache_cuts_invocations_reads_and_lambda_cost():
    inputs = cost.read_inputs()
    uncached = cost.bill(inputs, requests=1e6, cache_seconds=0, memory_mb=inputs.memory_mb)
    cached = cost.bill(inputs, requests=1e6, cache_seconds=60, memory_mb=inputs.memory_mb)
    assert uncached.invocations == 1e6
    assert cached.invocations < uncached.invocations
    assert cached.dynamodb_reads < uncached.dynamodb_reads
    assert cached.authorizer < uncached.authorizer
    assert cached.api_rest == uncached.api_rest  # API Gateway bills every request alike


def test_touch_interval_bounds_writes():
    inputs = cost.read_inputs()
    every_time = dataclasses.replace(inputs, touch_interval_seconds=0)
    hourly = cost.bill(inputs, requests=1e6, cache_seconds=0, memory_mb=512)
    always = cost.bill(every_time, requests=1e6, cache_seconds=0, memory_mb=512)
    assert always.dynamodb_writes == 1e6 * cost.DYNAMODB_WRITE_UNIT[0]
    assert hourly.dynamodb_writes < always.dynamodb_writes


def test_more_memory_shortens_cold_starts():
    inputs = cost.read_inputs()
    colds = [cost.cold_ms(inputs, memory) for memory in cost.MEMORY_SIZES]
    assert colds == sorted(colds, reverse=True)


def test_a_metered_authorization_is_one_write_instead_of_a_read():
    inputs = cost.read_inputs()
    metered = cost.bill(
        inputs, requests=1e6, cache_seconds=0, memory_mb=inputs.memory_mb, metered=True
    )
    assert metered.dynamodb_reads == 0
    assert metered.dynamodb_writes == 1e6 * cost.DYNAMODB_WRITE_UNIT[0]


def test_write_units_are_per_started_kilobyte():
    assert [cost.write_units(size) for size in (1, 1024, 1025, 2048, 2049)] == [1, 1, 2, 2, 3]

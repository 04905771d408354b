"""benchmarks/tune_startup.py on a few trials: both settings run every trial, none fails."""

import pytest

pytest.importorskip("ray")


def test_both_settings_run_their_trials(tmp_path, load_benchmark):
    import ray

    bench = load_benchmark("tune_startup")
    if ray.is_initialized():  # a local Ray of an earlier test in this process
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for reuse in (False, True):
            assert bench.seconds_per_trial(2, reuse, str(tmp_path)) > 0
    finally:
        ray.shutdown()
    assert {p.name for p in tmp_path.iterdir()} >= {"reuse-False", "reuse-True"}

"""run_grid with an executor of its own: it never has more than ``jobs`` runs in flight."""

import threading
from concurrent.futures import Executor, Future
from typing import Any

from coordconv.experiments.core.config import make_config
from coordconv.experiments.core.grid import run_grid, run_one


class SlowExecutor(Executor):
    """Finishes each submitted run after a short delay on a thread, counting how many were in
    flight at once; records the names it was given instead of training them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.names: list[str] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        assert fn is run_one
        name = args[0]
        future: Future[Any] = Future()
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.names.append(name)

        def finish() -> None:
            with self.lock:
                self.in_flight -= 1
            future.set_result((name, {}))

        threading.Timer(0.02, finish).start()
        return future


def test_an_executor_gets_at_most_jobs_runs_at_a_time(tmp_path):
    configs = {
        cfg.name: cfg
        for cfg in (
            make_config("regression", "coordconv", "uniform", seed=s, canvas=16, square=3)
            for s in range(7)
        )
    }
    executor = SlowExecutor()
    ran = run_grid(tmp_path, configs, jobs=3, executor=executor)
    assert sorted(ran) == sorted(configs) == sorted(executor.names)
    assert executor.most == 3 and executor.in_flight == 0

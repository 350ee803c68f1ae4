"""While runs execute, python's collector looks at young objects less often; the process's thresholds come
back when the last run ends (runner._fewer_collections)."""

from __future__ import annotations

import gc
import threading

from magnus_core import runner


def test_runs_raise_the_collectors_threshold_and_the_last_one_puts_it_back() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with runner._fewer_collections():
            assert gc.get_threshold()[0] == runner.RUN_GC_THRESHOLD
            seen: list[int] = []

            def beside() -> None:  # a second run in a thread of the same process (the workbench)
                with runner._fewer_collections():
                    seen.append(gc.get_threshold()[0])

            thread = threading.Thread(target=beside)
            thread.start()
            thread.join()
            assert seen == [runner.RUN_GC_THRESHOLD]
            assert gc.get_threshold()[0] == runner.RUN_GC_THRESHOLD  # the first run still executes
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_a_threshold_set_higher_already_or_changed_during_the_run_is_left_alone() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(50_000, 10, 10)
        with runner._fewer_collections():
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold() == (50_000, 10, 10)
        gc.set_threshold(700, 10, 10)
        with runner._fewer_collections():
            gc.set_threshold(123, 4, 5)  # a step's own choice
        assert gc.get_threshold() == (123, 4, 5)
    finally:
        gc.set_threshold(*before)

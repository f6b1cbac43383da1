"""The generic pipeline stage: order, backpressure, error propagation, shutdown."""
import threading
import time

import pytest

from avatar.model_runtime.engine.stage import Pipeline, PipelineError


def test_results_keep_submission_order_and_every_item_arrives_once():
    p = Pipeline([("a", lambda x: x + 1), ("b", lambda x: x * 10), ("c", lambda x: (x, threading.get_ident()))])
    out = []
    consumer = threading.Thread(target=lambda: out.extend(p.results()))
    consumer.start()
    for i in range(200):
        p.submit(i)
    p.close()
    consumer.join(timeout=10)
    assert [v for v, _ in out] == [(i + 1) * 10 for i in range(200)]
    assert len({tid for _, tid in out}) == 1  # each stage runs on its own single thread
    assert p.stats["a"].items == p.stats["b"].items == 200


def test_submit_blocks_when_the_pipeline_is_full():
    release = threading.Event()
    p = Pipeline([("slow", lambda x: release.wait() and x)], depth=1)
    submitted = []

    def producer():
        for i in range(10):
            p.submit(i)
            submitted.append(i)

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    time.sleep(0.3)
    # One item in the stage, one in its inbox, one waiting in the output queue at most.
    assert len(submitted) <= 3
    out = []
    consumer = threading.Thread(target=lambda: out.extend(p.results()))
    consumer.start()
    release.set()
    t.join(timeout=5)
    p.close()
    consumer.join(timeout=5)
    assert out == list(range(10))


def test_a_stage_exception_reaches_the_consumer_with_its_cause():
    def explode(x):
        if x == 3:
            raise ValueError("bad clip")
        return x

    p = Pipeline([("ok", lambda x: x), ("boom", explode), ("after", lambda x: x)])
    got = []
    with pytest.raises(PipelineError, match="boom") as info:
        for i in range(10):
            p.submit(i)
        p.close()
        for r in p.results():
            got.append(r)
    assert isinstance(info.value.__cause__, ValueError)
    assert got == [0, 1, 2][:len(got)]
    p.shutdown()
    assert not any(t.is_alive() for t in p._threads)


def test_shutdown_stops_a_busy_pipeline_promptly():
    p = Pipeline([("sleepy", lambda x: time.sleep(0.05) or x)], depth=4)
    for i in range(4):
        p.submit(i)
    t0 = time.monotonic()
    p.shutdown()
    assert time.monotonic() - t0 < 2
    with pytest.raises(PipelineError):
        while True:
            p.get(timeout=2)


def test_map_feeds_from_the_callers_thread_without_waiting_on_itself():
    # depth 1, three stages: far more items than the chain holds; a submit that waited on results
    # only this thread reads would hang here (the timeout below would fail the test instead).
    p = Pipeline([("a", lambda x: x + 1), ("b", lambda x: x * 10), ("c", lambda x: x - 1)], depth=1)
    out = []
    worker = threading.Thread(target=lambda: out.extend(p.map(range(100))), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert out == [(i + 1) * 10 - 1 for i in range(100)]
    assert p.capacity == 7


def test_map_raises_a_stage_failure():
    def explode(x):
        if x == 5:
            raise ValueError("boom")
        return x

    p = Pipeline([("boom", explode)], depth=1)
    got = []
    with pytest.raises(PipelineError, match="boom"):
        for x in p.map(range(50)):
            got.append(x)
    assert got == list(range(5))

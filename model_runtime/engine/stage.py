"""One generic pipeline stage, written once (the Ditto lesson, done right).

A :class:`Pipeline` chains stages, each a thread with a bounded inbox. A full
inbox blocks the producer (backpressure), order is preserved (one thread per
stage, FIFO queues), a sentinel drains and stops the chain, and the first
exception in any stage stops every stage and is re-raised to the consumer.
Torch ops release the GIL, so CPU stages overlap on separate cores.
"""
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

_END = object()
_POLL_S = 0.05  # how often blocked queue operations re-check the stop event


class PipelineError(RuntimeError):
    """A stage raised; the original exception is the ``__cause__``."""


@dataclass
class _Failure:
    stage: str
    error: BaseException


@dataclass
class StageStats:
    items: int = 0
    busy_s: float = 0.0
    recent_ms: list = field(default_factory=list)

    def record(self, seconds: float) -> None:
        self.items += 1
        self.busy_s += seconds
        self.recent_ms.append(seconds * 1e3)
        del self.recent_ms[:-256]

    @property
    def mean_ms(self) -> float:
        return 1e3 * self.busy_s / self.items if self.items else 0.0


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if stop.is_set():
                return _END


class _Stage(threading.Thread):
    def __init__(self, name: str, fn: Callable, inbox: queue.Queue, outbox: queue.Queue,
                 stop: threading.Event, stats: StageStats):
        super().__init__(name=f"stage-{name}", daemon=True)
        self.stage_name, self.fn = name, fn
        self.inbox, self.outbox, self.stop, self.stats = inbox, outbox, stop, stats
        self.failures: list[_Failure] = []

    def run(self) -> None:
        while True:
            item = _get(self.inbox, self.stop)
            if item is _END:
                _put(self.outbox, item, self.stop)
                return
            t0 = time.perf_counter()
            try:
                out = self.fn(item)
            except BaseException as err:  # noqa: BLE001 - re-raised in the consumer's thread
                failure = _Failure(self.stage_name, err)
                self.failures.append(failure)
                self.stop.set()  # the consumer sees it once the results before it are read
                return
            self.stats.record(time.perf_counter() - t0)
            if not _put(self.outbox, out, self.stop):
                return


class Pipeline:
    """``submit`` items in, iterate ``results()`` out; ``close()`` drains and joins."""

    def __init__(self, stages: list[tuple[str, Callable[[Any], Any]]], depth: int = 2):
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stop = threading.Event()
        self.stats = {name: StageStats() for name, _ in stages}
        # Items the chain holds with nobody reading: every queue full and every stage holding one.
        self.capacity = (len(stages) + 1) * depth + len(stages)
        self._queues = [queue.Queue(maxsize=depth) for _ in range(len(stages) + 1)]
        self._threads = [_Stage(name, fn, self._queues[i], self._queues[i + 1], self.stop,
                                self.stats[name])
                         for i, (name, fn) in enumerate(stages)]
        self._closed = False
        for t in self._threads:
            t.start()

    def submit(self, item: Any) -> None:
        """Blocks while the first stage is full. Raises if the pipeline has failed."""
        if self._closed:
            raise RuntimeError("pipeline is closed")
        if not _put(self._queues[0], item, self.stop):
            self._raise_failure()
            raise PipelineError("pipeline stopped")

    def _raise_failure(self) -> None:
        for t in self._threads:
            for f in t.failures:
                raise PipelineError(f"stage {f.stage!r} failed: {f.error!r}") from f.error

    def close(self) -> None:
        """No more items: let the ones in flight finish."""
        if not self._closed:
            self._closed = True
            _put(self._queues[0], _END, self.stop)

    def get(self, timeout: float | None = None) -> Any:
        """Next result in submission order; ``StopIteration`` once closed and drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                item = self._queues[-1].get(timeout=_POLL_S)
                break
            except queue.Empty:
                if self.stop.is_set():
                    self._raise_failure()
                    if not any(t.is_alive() for t in self._threads):
                        raise PipelineError("pipeline stopped") from None
                if deadline is not None and time.monotonic() > deadline:
                    raise
        if item is _END:
            self._queues[-1].put(_END)  # later calls end too
            raise StopIteration
        return item

    def map(self, items: Iterable[Any]) -> Iterator[Any]:
        """Every item through the stages, results in order, fed from the caller's own thread: at
        most ``capacity - 1`` items in flight (one place stays for the end marker), so no submit
        waits on a result that only this thread would read. Closes the pipeline."""
        in_flight = 0
        for item in items:
            if in_flight == self.capacity - 1:
                yield self.get()
                in_flight -= 1
            self.submit(item)
            in_flight += 1
        self.close()
        yield from self.results()

    def results(self) -> Iterator[Any]:
        while True:
            try:
                yield self.get()
            except StopIteration:
                return

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop now, dropping what is in flight, and join the threads."""
        self.stop.set()
        self._closed = True
        for t in self._threads:
            t.join(timeout=timeout_s)

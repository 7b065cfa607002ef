"""Request batching as TF Serving's ``--enable_batching`` does it.

Concurrent Predict calls to the same version and signature, with inputs of the same dtypes and
non-batch dims, are concatenated along dim 0 into one TF call and the outputs split back. Like TF
Serving's shared batch scheduler: a queue per (version, signature, input layout); a batch closes when
full or ``batch_timeout_micros`` after it opened; ``num_batch_threads`` threads run the TF calls; a
request that finds ``max_enqueued_batches`` batches waiting is refused at once (UNAVAILABLE, TF's code
and message). Signatures whose outputs have no batch dim (constants) run one request per call.

One departure, on by default (``run_when_idle``): a request that finds nothing else in the server
runs at once on its own thread, and a batch closes when every request in the server is in it.
Nothing running could then come back to join it, so waiting out the timeout (and handing the call
to a batch thread) would only delay it: a song composed alone pays no batching wait on each of its
hundreds of Predicts, while requests that arrive while others run still wait for them and merge.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

import grpc
import numpy as np

from model_server.batching_parameters import DEFAULT_BATCHING_CONFIG, BatchingParameters
from model_server.errors import ServingError, from_exception

__all__ = ["DEFAULT_BATCHING_CONFIG", "Batcher", "BatchingParameters"]


class _Task:
    def __init__(self, inputs: dict[str, np.ndarray], size: int) -> None:
        self.inputs, self.size = inputs, size
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


class _Batch:
    def __init__(self, servable, signature) -> None:
        self.servable, self.signature = servable, signature
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = time.monotonic()
        self.closed = False  # full, or a newer batch opened behind it


class Batcher:
    """Merges concurrent calls and runs them on its own threads."""

    def __init__(self, params: BatchingParameters, *, run_when_idle: bool = True) -> None:
        """``run_when_idle``: close a batch that holds every request in the server (see above);
        False schedules exactly as TF Serving does."""
        self.params = params
        self.run_when_idle = run_when_idle
        self._in_flight = 0  # requests taken in and not yet answered, running or waiting
        self._cv = threading.Condition()
        self._queues: dict[tuple, deque[_Batch]] = {}
        self._solo = itertools.count()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(params.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, servable, signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs of ``signature`` for ``inputs``, computed in some batch; blocks until then."""
        sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
        if signature.mergeable and len(sizes) == 1 and None not in sizes:
            size = sizes.pop()
            layout = tuple(sorted((k, a.dtype.str, a.shape[1:]) for k, a in inputs.items()))
            key = (id(servable), signature.name, layout)
        else:
            size, key = 1, ("solo", next(self._solo))
        if size > self.params.max_batch_size:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Task size {size} is larger than maximum input batch size {self.params.max_batch_size}",
            )
        with self._cv:
            alone = self.run_when_idle and not self._closing and self._in_flight == 0
            self._in_flight += alone
        if alone:
            return self._run_alone(servable, signature, inputs)
        task = _Task(inputs, size)
        self._enqueue(key, servable, signature, task, solo=key[0] == "solo")
        task.done.wait()
        if task.error is not None:
            raise from_exception(task.error)
        return task.outputs

    def _run_alone(self, servable, signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The only request in the server runs on its own thread: no batch thread to wake and wait for.
        Requests that come meanwhile queue and wait for it, as for a running batch."""
        try:
            return servable.run(signature, inputs)
        except Exception as error:
            raise from_exception(error) from None
        finally:
            with self._cv:
                self._in_flight -= 1
                self._close_if_idle()

    def pending(self) -> int:
        """Requests waiting in queues (not yet taken by a batch thread)."""
        with self._cv:
            return sum(len(b.tasks) for q in self._queues.values() for b in q)

    def close(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        for thread in self._threads:
            thread.join()

    def _enqueue(self, key, servable, signature, task: _Task, solo: bool) -> None:
        with self._cv:
            if self._closing:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduler is shutting down")
            queue = self._queues.setdefault(key, deque())
            if not queue or queue[-1].closed or queue[-1].size + task.size > self.params.max_batch_size:
                if len(queue) >= self.params.max_enqueued_batches:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                if queue:
                    queue[-1].closed = True
                queue.append(_Batch(servable, signature))
            batch = queue[-1]
            batch.tasks.append(task)
            batch.size += task.size
            batch.closed = batch.closed or solo or batch.size >= self.params.max_batch_size
            self._in_flight += 1
            self._close_if_idle()
            self._cv.notify()

    def _close_if_idle(self) -> None:
        """When nothing runs, every request in the server is waiting in a batch: close them (lock held)."""
        if not self.run_when_idle:
            return
        waiting = [batch for queue in self._queues.values() for batch in queue]
        if sum(len(batch.tasks) for batch in waiting) == self._in_flight:
            for batch in waiting:
                batch.closed = True
            self._cv.notify_all()

    def _next_batch(self) -> _Batch | None:
        """The oldest batch that may run now; waits for one. None when closing and nothing is left."""
        timeout = self.params.batch_timeout_micros / 1e6
        with self._cv:
            while True:
                now = time.monotonic()
                ready, wake = None, None
                for key, queue in self._queues.items():
                    head = queue[0]
                    due = head.opened + timeout
                    if head.closed or now >= due or self._closing:
                        if ready is None or head.opened < ready[1][0].opened:
                            ready = (key, queue)
                    else:
                        wake = due if wake is None else min(wake, due)
                if ready is not None:
                    key, queue = ready
                    batch = queue.popleft()
                    if not queue:
                        del self._queues[key]
                    return batch
                if self._closing:
                    return None
                self._cv.wait(None if wake is None else max(wake - now, 0.0))

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._execute(batch)
            except BaseException as error:  # every waiting request must hear about it
                for task in batch.tasks:
                    task.error = error
            for task in batch.tasks:
                task.done.set()
            with self._cv:
                self._in_flight -= len(batch.tasks)
                self._close_if_idle()

    def _execute(self, batch: _Batch) -> None:
        run = batch.servable.run
        if len(batch.tasks) == 1:
            batch.tasks[0].outputs = run(batch.signature, batch.tasks[0].inputs)
            return
        merged = {k: np.concatenate([t.inputs[k] for t in batch.tasks]) for k in batch.tasks[0].inputs}
        outputs = run(batch.signature, merged)
        if any(v.ndim == 0 or v.shape[0] != batch.size for v in outputs.values()):
            # The signature looked batched but its outputs are not per row: answer each request alone.
            for task in batch.tasks:
                task.outputs = run(batch.signature, task.inputs)
            return
        bounds = np.cumsum([t.size for t in batch.tasks])[:-1]
        pieces = {k: np.split(v, bounds) for k, v in outputs.items()}
        for i, task in enumerate(batch.tasks):
            task.outputs = {k: parts[i] for k, parts in pieces.items()}

"""Batches that span tiles: one encoder shared by every tile thread of a process (for GPUs).

Each tile thread reads and composites its own tile on the CPU and then hands its pixels over; a
single feeder thread gathers the pixels of all waiting tiles into batches of at least
``min_pixels`` and runs the encoder on them, so the device sees big batches while other tiles are
still being read and composited (CPU work overlaps device work).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np


class SharedBatches:
    """Callable like the encoder it wraps: ``(..., month, band)`` blocks in, embeddings out."""

    def __init__(self, encoder, *, min_pixels: int, wait_s: float = 0.05) -> None:
        self.encoder = encoder
        self.out_dim = encoder.out_dim
        self.min_pixels = int(min_pixels)
        self.wait_s = float(wait_s)
        self.calls = 0  #: encoder calls so far (each one batch)
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._feed, name="tsmap-batches", daemon=True).start()

    def __getattr__(self, name):  # preprocessing, model, ... of the wrapped encoder
        return getattr(self.encoder, name)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        future: Future = Future()
        self._queue.put((np.asarray(block), future))
        return future.result()

    def _feed(self) -> None:
        while True:
            waiting = [self._queue.get()]
            pixels = _pixels(waiting[0][0])
            while pixels < self.min_pixels:
                try:
                    waiting.append(self._queue.get(timeout=self.wait_s))
                except queue.Empty:
                    break
                pixels += _pixels(waiting[-1][0])
            self._run(waiting)

    def _run(self, waiting: list) -> None:
        core = waiting[0][0].shape[-2:]
        try:
            flat = (
                np.concatenate([b.reshape(-1, *b.shape[-2:]) for b, _ in waiting])
                if len(waiting) > 1
                else waiting[0][0]
            )
            out = self.encoder(flat.reshape(-1, *core))
            self.calls += 1
        except BaseException as exc:  # every waiting tile learns of the failure
            for _, future in waiting:
                future.set_exception(exc)
            return
        start = 0
        for block, future in waiting:
            n = _pixels(block)
            future.set_result(out[start : start + n].reshape(*block.shape[:-2], self.out_dim))
            start += n


def _pixels(block: np.ndarray) -> int:
    return int(np.prod(block.shape[:-2]))

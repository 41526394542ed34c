"""A picklable description of the encoder, loaded lazily once per process (per Dask worker).

Tasks carry an :class:`EncoderSpec` (a path, a hash and a few numbers), never the model: the first
task in a process loads the weights, later tasks reuse them. Cached models are keyed by the
checkpoint's SHA-256, so a file that changed between the driver and a worker is refused, not mixed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field

from .encode import PixelEncoder
from .errors import InputError, ModelError
from .model import EncoderConfig

log = logging.getLogger("tsmap")

_CACHE: dict[str, PixelEncoder] = {}
_LOCK = threading.Lock()
#: How many models this process has loaded (tests read it to prove one load per worker).
LOADS = {"count": 0}


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoder to run and how: a checkpoint (or a seeded random ``config``), device, batch size."""

    checkpoint: str | None = None  #: weights file; None: random weights from ``config`` and ``seed``
    config: EncoderConfig = field(default_factory=EncoderConfig)  #: used only without a checkpoint
    seed: int = 0
    device: str | None = None  #: torch device; None: CUDA when available, else CPU
    batch_size: int | None = None  #: pixels per forward pass; None: the encoder's default for the device
    precision: str = "auto"  #: "auto" (bf16 where the device runs it natively), "fp32" or "bf16"
    share_batches: bool = False  #: merge the pixels of concurrent tiles into shared batches (see :meth:`load`)
    sha256: str = ""  #: checkpoint hash, filled in on construction

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.checkpoint is not None and not self.sha256:
            path = os.fspath(self.checkpoint)
            if os.path.isdir(path):
                raise InputError(f"checkpoint {path!r} is a folder; give the checkpoint file in it")
            object.__setattr__(self, "checkpoint", os.path.abspath(path) if os.path.exists(path) else path)
            object.__setattr__(self, "sha256", file_sha256(path) if os.path.exists(path) else path)

    @property
    def weights_id(self) -> str:
        """What the outputs record as the model: the checkpoint hash, or the random config and seed."""
        if self.checkpoint is None:
            return f"random-init(seed={self.seed}, {self.config})"
        return f"{os.path.basename(self.checkpoint)} sha256:{self.sha256}"

    def key(self) -> str:
        return hashlib.sha256(repr((self.weights_id, self.device, self.batch_size, self.precision, self.share_batches)).encode()).hexdigest()[:16]

    def load(self) -> PixelEncoder:
        """The encoder, loaded on the first call in this process and cached after that.

        With ``share_batches`` it is wrapped in :class:`~tsmap.batching.SharedBatches`: the tiles in
        flight in this process are encoded together, in batches of several ``batch_size``. Embeddings
        are then exact on CPU but may differ in the last bits on a GPU from run to run (batch
        composition). Off by default: on an H200 with 8 tile threads the pipeline was 0.82x as fast
        with shared batches as without (reading and compositing on the CPU, not the encoder, bound
        it; larger batches were no faster on the device either: tests/bench/gpu_check.py).
        """
        from .batching import SharedBatches

        key = self.key()
        with _LOCK:
            if key not in _CACHE:
                options = {"batch_size": self.batch_size} if self.batch_size else {}
                encoder = PixelEncoder(*self._load_model(), device=self.device, precision=self.precision, **options)
                _CACHE[key] = SharedBatches(encoder, min_pixels=4 * encoder.batch_size) if self.share_batches else encoder
                LOADS["count"] += 1
            return _CACHE[key]

    def _load_model(self):
        from .checkpoint import load_encoder
        from .model import build_encoder
        from .specs import AUTHORS

        if self.checkpoint is None:
            return build_encoder(self.config, seed=self.seed), AUTHORS
        if os.path.exists(self.checkpoint) and file_sha256(self.checkpoint) != self.sha256:
            raise ModelError(f"checkpoint {self.checkpoint!r} changed since the run started (hash differs); rerun the command")
        return load_encoder(self.checkpoint)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

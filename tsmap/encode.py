"""Apply the encoder to every pixel of a composite cube, lazily, chunk by chunk.

:class:`EncoderSpec` is how a process (a Dask worker) gets its :class:`PixelEncoder`. Tasks carry an
:class:`EncoderSpec` (a path, a hash and a few numbers), never the model: the first task in a process loads
the weights, later tasks reuse them. Cached models are keyed by the checkpoint's SHA-256, so a file that
changed between the driver and a worker is refused, not mixed.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from .batching import SharedBatches
from .dims import BAND, EMBED, MONTH
from ._files import file_sha256
from .checkpoint import load_encoder, weights_sha256
from .errors import InputError, ModelError
from .georef import keep_crs
from .model import EncoderConfig, build_encoder
from .patches import neighbourhoods
from .dims import PATCH_X, PATCH_Y
from .specs import AUTHORS, Preprocessing

#: Pixels per forward. On CPU ~128 keep the intermediates in cache and under glibc's
#: mmap threshold (larger batches are slower). On an H200, 4096 was the fastest of 4096-262144
#: (bf16 229k px/s vs 184k at 16384; fp32 141k vs 127k: tests/bench/gpu_check.py).
DEFAULT_BATCH = {"cpu": 128, "cuda": 4096}
PRECISIONS = ("auto", "fp32", "bf16")
VALIDITY_STEP = 8192  #: pixels per step of the validity pass


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively (CPU: AVX512-BF16/AMX via oneDNN; CUDA: compute capability >= 8)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def check_device(name: str | None, *, option: str = "--device") -> None:
    """Refuse, before any work, a torch device this machine cannot run: not a device name, or CUDA without one."""
    if name is None:
        return
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"{option} {name!r} is not a torch device; use cpu, cuda or cuda:N (or omit it)") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"{option} {name!r}: tsmap runs on cpu or cuda; use one of those (or omit it)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{option} {name!r} but this machine has no CUDA device; use cpu (or omit it)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise InputError(f"{option} {name!r} but this machine has {n} CUDA device(s); use cuda:0 .. cuda:{n - 1}")


class PixelEncoder:
    """Turns composites into L2-normalised (..., embed) float32 embeddings.

    Blocks are (..., month, band) for a 1x1 model and (..., month, band, P, P) for a P x P model;
    ``month`` is 12, 4 or 1 long. A month counts when all of its values are finite; missing months
    are masked out of attention (each present month keeps its own position row) and a pixel without
    any valid month gets NaN. Usable directly on numpy arrays and as the per-chunk function of
    :func:`embed`.

    ``precision``: ``"auto"`` (bf16 where the device runs it natively, else fp32), ``"fp32"`` or
    ``"bf16"``. bf16 runs the model's weights in bf16 on CPU and autocast (AMP) on CUDA; embeddings
    then agree with fp32 to a cosine of about 0.9999. Results are deterministic for a given
    device, precision and batch size.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocessing: Preprocessing = AUTHORS,
        *,
        device: str | None = None,
        batch_size: int | None = None,
        precision: str = "auto",
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "auto":
            precision = "bf16" if bf16_supported(self.device) else "fp32"
        self.precision = precision
        config = model.config
        if config.patch != preprocessing.patch:
            raise InputError(
                f"the model reads {config.patch}x{config.patch} patches but the preprocessing spec says "
                f"{preprocessing.patch}; pass the checkpoint's own spec"
            )
        self.patch, self.bands, self.out_dim = config.patch, config.bands, config.out_dim
        self._token = weights_sha256(model.state_dict())[:16]
        cast = self.device.type == "cpu" and precision == "bf16"
        self.model = (copy.deepcopy(model).to(self.device, torch.bfloat16) if cast else model.to(self.device)).eval()
        self._dtype = torch.bfloat16 if cast else torch.float32
        self._autocast = self.device.type == "cuda" and precision == "bf16"
        self.preprocessing = preprocessing
        self.batch_size = int(batch_size or DEFAULT_BATCH.get(self.device.type, 4096))
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")

    def __dask_tokenize__(self):
        config = self.model.config  # a single step's position row changes embeddings, not weights
        return (
            "tsmap.PixelEncoder",
            self._token,
            config,
            str(self.device),
            self.precision,
            self.batch_size,
            self.preprocessing,
        )

    def __call__(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block)
        core = self._check(block.shape)
        lead = block.shape[: block.ndim - len(core)]
        n = math.prod(lead)

        def take(idx: np.ndarray) -> np.ndarray:
            """Pixels ``idx`` (flat over the leading axes) as (len(idx), *core): copies only those
            pixels, so strided P x P windows are never expanded for the whole block."""
            return block[np.unravel_index(idx, lead)] if lead else block[None]

        valid = np.concatenate(
            [_valid_steps(take(np.arange(s, min(n, s + VALIDITY_STEP)))) for s in range(0, n, VALIDITY_STEP)]
        )
        out = np.full((n, self.out_dim), np.nan, dtype=np.float32)
        todo = np.flatnonzero(valid.any(-1))
        for start in range(0, todo.size, self.batch_size):
            idx = todo[start : start + self.batch_size]
            out[idx] = self._encode(self.preprocessing.normalise(take(idx), band_axis=2), valid[idx])
        return out.reshape(*lead, self.out_dim)

    def _check(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        p = self.patch
        n = 2 if p == 1 else 4
        want = "(..., month, band)" if p == 1 else f"(..., month, band, {p}, {p})"
        if len(shape) < n or shape[-n + 1] != self.bands or (p > 1 and tuple(shape[-2:]) != (p, p)):
            raise InputError(
                f"encoder input has shape {shape}; this {p}x{p} model needs {want} with {self.bands} bands"
            )
        if shape[-n] not in (12, 4, 1):
            raise InputError(
                f"encoder input has {shape[-n]} time steps; give 12 (monthly), 4 (quarterly) or 1 (annual)"
            )
        return tuple(shape[-n:])

    @torch.inference_mode()
    def _encode(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        vt = torch.from_numpy(valid).to(self.device)
        xt = torch.from_numpy(x).to(self.device)
        xt = torch.where(vt.view(*vt.shape, *([1] * (xt.dim() - 2))), xt, 0.0).to(self._dtype)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._autocast):
            emb = self.model(xt, vt)
        return torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy()


def _valid_steps(pixels: np.ndarray) -> np.ndarray:
    """(N, T) bool: a time step counts when all its values (bands, and the whole P x P window) are finite."""
    return np.isfinite(pixels).reshape(*pixels.shape[:2], -1).all(-1)


def embed(s2: xr.DataArray, encoder: PixelEncoder) -> xr.DataArray:
    """Embeddings (embed, y, x) of a composite (month, band, y, x), lazily; NaN where no data.

    For a P x P model, ``s2`` may already hold the windows (patch_y, patch_x from
    :func:`tsmap.patches.neighbourhoods`); otherwise they are made here, repeating the border pixel
    beyond the grid's edge.
    """
    if encoder.patch > 1 and PATCH_Y not in s2.dims:
        s2 = neighbourhoods(s2, encoder.patch, edge="edge")
    core = [MONTH, BAND] + ([PATCH_Y, PATCH_X] if PATCH_Y in s2.dims else [])
    if len(core) == 4 and (s2.sizes[PATCH_Y], s2.sizes[PATCH_X]) != (encoder.patch, encoder.patch):
        raise InputError(
            f"composite windows are {s2.sizes[PATCH_Y]}x{s2.sizes[PATCH_X]} but the encoder reads "
            f"{encoder.patch}x{encoder.patch}"
        )
    s2 = s2.chunk({d: -1 for d in core}) if s2.chunks is not None else s2
    out = xr.apply_ufunc(
        encoder,
        s2,
        input_core_dims=[core],
        output_core_dims=[[EMBED]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {EMBED: encoder.out_dim}},
    )
    out.attrs.update(long_name="pixel embedding (L2-normalised)", units="1")
    return keep_crs(out.transpose(EMBED, ...).rename("embedding"), s2)


# --- The handle tasks carry: which encoder, loaded once per process ---

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
        return hashlib.sha256(
            repr((self.weights_id, self.device, self.batch_size, self.precision, self.share_batches)).encode()
        ).hexdigest()[:16]

    def load(self) -> PixelEncoder:
        """The encoder, loaded on the first call in this process and cached after that.

        With ``share_batches`` it is wrapped in :class:`~tsmap.batching.SharedBatches`: the tiles in
        flight in this process are encoded together, in batches of several ``batch_size``. Embeddings
        are then exact on CPU but may differ in the last bits on a GPU from run to run (batch
        composition). Off by default: on an H200 with 8 tile threads the pipeline was 0.82x as fast
        with shared batches as without (reading and compositing on the CPU, not the encoder, bound
        it; larger batches were no faster on the device either: tests/bench/gpu_check.py).
        """
        key = self.key()
        with _LOCK:
            if key not in _CACHE:
                options = {"batch_size": self.batch_size} if self.batch_size else {}
                encoder = PixelEncoder(*self._load_model(), device=self.device, precision=self.precision, **options)
                _CACHE[key] = (
                    SharedBatches(encoder, min_pixels=4 * encoder.batch_size) if self.share_batches else encoder
                )
                LOADS["count"] += 1
            return _CACHE[key]

    def _load_model(self):
        if self.checkpoint is None:
            return build_encoder(self.config, seed=self.seed), AUTHORS
        if os.path.exists(self.checkpoint) and file_sha256(self.checkpoint) != self.sha256:
            raise ModelError(
                f"checkpoint {self.checkpoint!r} changed since the run started (hash differs); rerun the command"
            )
        return load_encoder(self.checkpoint)

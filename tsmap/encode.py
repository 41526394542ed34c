"""Apply the encoder to every pixel of a composite cube, lazily, chunk by chunk."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import xarray as xr

from .bands import BAND, EMBED, MONTH
from .preprocess import AUTHORS, Preprocessing

DEFAULT_BATCH = 4096


class PixelEncoder:
    """Turns (..., month, band) composites into L2-normalised (..., embed) float32 embeddings.

    Holds the model, its preprocessing spec and the device; pixels without any valid month
    get NaN. Usable directly on numpy arrays and as the per-chunk function of :func:`embed`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocessing: Preprocessing = AUTHORS,
        *,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.preprocessing = preprocessing
        self.batch_size = int(batch_size)
        self.out_dim = model.config.out_dim
        self._token = _weights_hash(model)

    def __dask_tokenize__(self):
        return ("tsmap.PixelEncoder", self._token, str(self.device), self.batch_size)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        lead = block.shape[:-2]
        x = self.preprocessing.normalise(block.reshape(-1, *block.shape[-2:]))
        valid = np.isfinite(x).all(-1)
        has_data = valid.any(-1)
        out = np.full((x.shape[0], self.out_dim), np.nan, dtype=np.float32)
        todo = np.flatnonzero(has_data)
        for start in range(0, todo.size, self.batch_size):
            idx = todo[start : start + self.batch_size]
            out[idx] = self._encode(np.nan_to_num(x[idx]), valid[idx])
        return out.reshape(*lead, self.out_dim)

    @torch.inference_mode()
    def _encode(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(x).to(self.device)
        vt = torch.from_numpy(valid).to(self.device)
        emb = self.model(xt, None if vt.all() else vt).float()
        return torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()


def embed(s2: xr.DataArray, encoder: PixelEncoder) -> xr.DataArray:
    """Embeddings (embed, y, x) of a composite (month, band, y, x), lazily; NaN where no data."""
    s2 = s2.chunk({MONTH: -1, BAND: -1}) if s2.chunks is not None else s2
    out = xr.apply_ufunc(
        encoder,
        s2,
        input_core_dims=[[MONTH, BAND]],
        output_core_dims=[[EMBED]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {EMBED: encoder.out_dim}},
    )
    return out.transpose(EMBED, ...).rename("embedding")


def _weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]

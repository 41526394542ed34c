"""tsmap: open-vocabulary maps from Sentinel-2 time series (TimeSenCLIP).

The pipeline, stage by stage (every stage is lazy until the write)::

    model, prep = tsmap.load_encoder("TimeSenCLIP_1x1.ckpt")
    items = tsmap.search(tsmap.Query.for_year(bbox, 2023))
    cube = tsmap.load_cube(items, tsmap.Grid.from_bbox(bbox))
    comp = tsmap.composite(cube, prep.composite)   # the checkpoint's rule (see tsmap.composite's docstring)
    emb = tsmap.embed(comp["s2"], tsmap.PixelEncoder(model, prep))
    maps = tsmap.classify(emb, tsmap.class_embeddings(tsmap.load_prompts("land-cover")))

The names below are imported on first use (PEP 562), so ``import tsmap`` and ``import tsmap.model``
stay cheap (no xarray, no torch until needed) and ``tsmap --help`` answers at once. Every module
that returns xarray objects imports rioxarray, so tsmap's results always have ``.rio``.
"""

from ._version import __version__  # noqa: F401  (the number lives in pyproject.toml only)

#: Public name -> the module that defines it.
_EXPORTS = {
    "load_encoder": "checkpoint",
    "CompositeSpec": "specs", "composite": "composite", "mask_clouds": "composite",
    "PixelEncoder": "encode", "embed": "encode",
    "DataError": "errors", "InputError": "errors", "ModelError": "errors", "TsmapError": "errors",
    "BBox": "geo", "Grid": "geo",
    "load_cube": "load",
    "EncoderConfig": "model", "TimeSenCLIPEncoder": "model", "build_encoder": "model",
    "EncoderSpec": "encode",
    "classify_embeddings": "pipeline", "embed_area": "pipeline", "predict": "pipeline", "scenic_embeddings": "pipeline",
    "MapResult": "pipeline", "EmbedResult": "pipeline", "open_map": "results",
    "class_embeddings": "scorers",
    "RetryPolicy": "retry",
    "open_embeddings": "store",
    "AUTHORS": "specs", "Preprocessing": "specs",
    "PromptSet": "prompts", "load_prompts": "prompts",
    "classify": "zeroshot", "ensemble": "zeroshot",
    "Query": "catalog", "search": "catalog",
    "write_cog": "write",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the module defining ``name`` on first access (PEP 562) and cache the attribute."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tsmap' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(__import__("types").ModuleType):
    """``tsmap.search`` and ``tsmap.composite`` are functions, as they were with eager imports: importing the
    submodules of the same name (which Python records on the package) must not replace them."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and _EXPORTS[name] == name and isinstance(value, __import__("types").ModuleType):
            return
        super().__setattr__(name, value)


__import__("sys").modules[__name__].__class__ = _Package

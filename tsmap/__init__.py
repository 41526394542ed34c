"""tsmap: open-vocabulary maps from Sentinel-2 time series (TimeSenCLIP).

The pipeline, stage by stage (every stage is lazy until the write)::

    items = tsmap.search(tsmap.Query.for_year(bbox, 2023))
    cube = tsmap.load_cube(items, tsmap.Grid.from_bbox(bbox))
    comp = tsmap.composite(cube)
    emb = tsmap.embed(comp["s2"], tsmap.PixelEncoder(model))
    maps = tsmap.classify(emb, tsmap.class_embeddings(tsmap.load_prompts("land-cover")))
"""

__version__ = "0.1.0"

from .checkpoint import load_encoder  # noqa: E402
from .composite import CompositeSpec, composite, mask_clouds  # noqa: E402
from .encode import PixelEncoder, embed  # noqa: E402
from .errors import DataError, InputError, ModelError, TsmapError  # noqa: E402
from .geo import BBox, Grid  # noqa: E402
from .load import load_cube  # noqa: E402
from .model import EncoderConfig, TimeSenCLIPEncoder, build_encoder  # noqa: E402
from .pipeline import class_embeddings, predict  # noqa: E402
from .preprocess import AUTHORS, Preprocessing  # noqa: E402
from .prompts import PromptSet, load_prompts  # noqa: E402
from .score import classify, ensemble  # noqa: E402
from .search import Query, search  # noqa: E402
from .write import write_cog  # noqa: E402

__all__ = [
    "AUTHORS", "BBox", "CompositeSpec", "DataError", "EncoderConfig", "Grid", "InputError", "ModelError",
    "PixelEncoder", "Preprocessing", "PromptSet", "Query", "TimeSenCLIPEncoder", "TsmapError", "build_encoder",
    "class_embeddings", "classify", "composite", "embed", "ensemble", "load_cube", "load_encoder", "load_prompts",
    "mask_clouds", "predict", "search", "write_cog",
]

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
from .encoder_spec import EncoderSpec  # noqa: E402
from .pipeline import classify_embeddings, embed_area, predict, scenic_embeddings  # noqa: E402
from .scoring import class_embeddings  # noqa: E402
from .retry import RetryPolicy  # noqa: E402
from .store import open_embeddings  # noqa: E402
from .preprocess import AUTHORS, Preprocessing  # noqa: E402
from .prompts import PromptSet, load_prompts  # noqa: E402
from .score import classify, ensemble  # noqa: E402
from .search import Query, search  # noqa: E402
from .write import write_cog  # noqa: E402

__all__ = [
    "AUTHORS", "BBox", "CompositeSpec", "DataError", "EncoderConfig", "EncoderSpec", "Grid", "RetryPolicy", "InputError", "ModelError",
    "PixelEncoder", "Preprocessing", "PromptSet", "Query", "TimeSenCLIPEncoder", "TsmapError", "build_encoder",
    "class_embeddings", "classify", "classify_embeddings", "composite", "embed", "embed_area", "ensemble", "load_cube",
    "load_encoder", "load_prompts", "mask_clouds", "open_embeddings", "predict", "scenic_embeddings", "search", "write_cog",
]

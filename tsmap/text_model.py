"""Which text tower: the default open_clip model and the id every output records (imports nothing heavy,
so command lines can show the defaults without loading numpy or torch)."""

from __future__ import annotations

import os

#: The open_clip model of every default. OpenAI's CLIP ViT-B/32 weights were trained with QuickGELU, and
#: open_clip 3.x builds a plain-GELU network for ``ViT-B-32`` even with the ``openai`` tag (it only warns),
#: so the default names the QuickGELU network: the one the authors' text embeddings and the LUCAS ground
#: embeddings came from.
DEFAULT_MODEL = "ViT-B-32-quickgelu"
#: The default weights: OpenAI's (downloaded once by open_clip).
DEFAULT_PRETRAINED = "openai"


def model_id(model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> str:
    """A string naming the text model, recorded with every output (and keying the text-embedding cache)."""
    tag = os.path.basename(pretrained) if os.path.exists(str(pretrained)) else pretrained
    return f"open_clip:{model}/{tag}"


#: The text model the published TimeSenCLIP encoder is aligned to.
AUTHORS_TEXT_MODEL = model_id(DEFAULT_MODEL, DEFAULT_PRETRAINED)

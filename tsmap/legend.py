"""The legend of a uint8 class map — names, slugs and colours of its values — in every form tsmap writes.

One :class:`Legend` gives the GDAL colour table and category names (QGIS shows them), the CF
``flag_values``/``flag_meanings`` attributes of an xarray class map, the STAC classification
classes and the entries a plot or quicklook draws. Besides the classes 0..K-1 a class map has two
reserved values: :data:`~tsmap.zeroshot.CLASS_UNKNOWN` (254, "none of these") and
:data:`~tsmap.zeroshot.CLASS_NODATA` (255).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import InputError

#: Class-map value for pixels without data, and for pixels the unknown rule rejects.
CLASS_NODATA, CLASS_UNKNOWN = 255, 254
#: Colours for classes whose prompt file gives none (RGB).
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128),
)  # fmt: skip
#: Colour of "none of these" (254) everywhere, and how pictures draw "no data" (255; transparent in the COG).
UNKNOWN_RGB, NODATA_RGB = (64, 64, 64), (224, 224, 224)
UNKNOWN_NAME, NODATA_NAME = "unknown (none of these)", "no data"


@dataclass(frozen=True)
class Legend:
    """Names and RGB colours of class values 0..K-1 (the reserved 254 and 255 are implied)."""

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()  #: one RGB per class; default: :data:`PALETTE`

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        if not names or len(names) > CLASS_UNKNOWN:
            raise InputError(f"a class map holds 1..{CLASS_UNKNOWN} classes, got {len(names)}")
        colors = tuple(tuple(int(c) for c in rgb[:3]) for rgb in self.colors) or default_colors(len(names))
        if len(colors) != len(names):
            raise InputError(f"{len(colors)} colours for {len(names)} classes")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "colors", colors)

    @classmethod
    def from_prompts(cls, prompts) -> "Legend":
        """The legend of a :class:`~tsmap.prompts.PromptSet`: its class names and colours (palette where none)."""
        return cls(tuple(prompts.names), tuple(
            hex_rgb(c.color) if c.color else PALETTE[i % len(PALETTE)] for i, c in enumerate(prompts.classes)))

    def entries(self) -> list[tuple[int, str, tuple[int, int, int]]]:
        """(value, name, RGB) of every class, then unknown (254) and no data (255)."""
        classes = [(i, n, c) for i, (n, c) in enumerate(zip(self.names, self.colors))]
        return classes + [(CLASS_UNKNOWN, UNKNOWN_NAME, UNKNOWN_RGB), (CLASS_NODATA, NODATA_NAME, NODATA_RGB)]

    def slugs(self) -> list[str]:
        """Names made of ``[0-9A-Za-z_-]`` only (STAC classification ``name``, CF ``flag_meanings``), unique."""
        out: list[str] = []
        for name in self.names:
            base = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") or "class"
            slug, k = base, 2
            while slug in out or slug in ("unknown", "nodata"):
                slug, k = f"{base}_{k}", k + 1
            out.append(slug)
        return out

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """GDAL colour table: every class opaque, unknown dark grey, no data transparent."""
        cmap = {i: (*rgb, 255) for i, rgb in enumerate(self.colors)}
        return {**cmap, CLASS_UNKNOWN: (*UNKNOWN_RGB, 255), CLASS_NODATA: (0, 0, 0, 0)}

    def categories(self) -> list[str]:
        """GDAL category names, indexed by pixel value (0..255)."""
        names = list(self.names) + [""] * (256 - len(self.names))
        names[CLASS_UNKNOWN], names[CLASS_NODATA] = UNKNOWN_NAME, NODATA_NAME
        return names

    def attrs(self) -> dict:
        """CF attributes of a class-map variable (flag_values/flag_meanings, colours, names, fill value)."""
        values = list(range(len(self.names))) + [CLASS_UNKNOWN]
        return {
            "long_name": "class",
            "flag_values": values,
            "flag_meanings": " ".join(self.slugs() + ["unknown"]),
            "flag_colors": " ".join(rgb_hex(c) for c in self.colors + (UNKNOWN_RGB,)),
            "class_names": json.dumps(list(self.names), ensure_ascii=False),
            "_FillValue": CLASS_NODATA,
        }

    @classmethod
    def from_attrs(cls, attrs: dict) -> "Legend | None":
        """The legend recorded by :meth:`attrs` (or in a class COG's tags), else None."""
        names = attrs.get("class_names") or attrs.get("classes")
        if not names:
            return None
        names = json.loads(names) if isinstance(names, str) else list(names)
        colors = str(attrs.get("flag_colors", "")).split()[: len(names)]
        return cls(tuple(names), tuple(hex_rgb(c) for c in colors) if len(colors) == len(names) else ())

    def stac_classes(self) -> list[dict]:
        """``classification:classes`` objects: slug ``name``, display ``title``/``description``, colour."""
        out = [{"value": v, "name": s, "title": n, "description": n, "color_hint": rgb_hex(c)[1:].upper()}
               for (v, n, c), s in zip(self.entries(), self.slugs() + ["unknown", "nodata"])]
        out[-1]["nodata"] = True
        return out


def default_colors(n: int) -> tuple[tuple[int, int, int], ...]:
    return tuple(PALETTE[i % len(PALETTE)] for i in range(n))


def hex_rgb(color: str) -> tuple[int, int, int]:
    text = str(color).lstrip("#")
    if len(text) != 6:
        return (128, 128, 128)
    return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))


def rgb_hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb[:3])

"""The LUCAS label tasks (land cover, land use, crops, EUNIS, bioregion, country) and their class lists.

Class order is TimeSenCLIP's (``src/Data/lucas_label_mapping.py`` / ``lucas_class_mapping.py``), so a
label index means the same class as in the authors' evaluation. :meth:`Task.index` turns whatever a
Sen4Map attribute or label table holds (a LUCAS code such as ``B16``, a class name, or an integer
index) into that index, and -1 when the point has no label for the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Label index of a point without a label for a task.
MISSING = -1


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class Task:
    """One labelling task: its class names (index order) and the codes that map to each class."""

    name: str  #: short key used in stores and reports: lc, lu, crop, eunis, bioregion, country
    title: str  #: human name
    classes: tuple[str, ...]
    codes: tuple[tuple[str, ...], ...] = ()  #: per class, the source codes mapping to it
    prefix_codes: bool = False  #: a code maps by its first letter (land cover: B55 -> B)
    _lookup: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.codes and len(self.codes) != len(self.classes):
            raise ValueError(f"task {self.name}: {len(self.codes)} code groups for {len(self.classes)} classes")
        for i, name in enumerate(self.classes):
            self._lookup[_norm(name)] = i
        for i, group in enumerate(self.codes):
            for code in group:
                self._lookup[code.upper()] = i

    def index(self, value) -> int:
        """Class index of ``value`` (code, name or integer index), or :data:`MISSING`."""
        if value is None:
            return MISSING
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str):
            number = float(value)
            return int(number) if number == int(number) and 0 <= number < len(self.classes) else MISSING
        text = value.strip()
        if not text or text.upper() in ("NA", "NAN", "NONE", "-1"):
            return MISSING
        for key in (text.upper(), _norm(text)):
            if key in self._lookup:
                return self._lookup[key]
        if self.prefix_codes and text[:1].upper() in self._lookup:
            return self._lookup[text[:1].upper()]
        if text.isdigit() and int(text) < len(self.classes):
            return int(text)
        return MISSING


def _range(prefix: str, lo: int, hi: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(lo, hi + 1))


LAND_COVER = Task(
    "lc",
    "Land cover",
    ("Artificial Land", "Cropland", "Woodland", "Shrubland", "Grassland", "Bare Land", "Water", "Wetlands"),
    tuple((letter,) for letter in "ABCDEFGH"),
    prefix_codes=True,
)

LAND_USE = Task(
    "lu",
    "Land use",
    (
        "Agriculture", "Forestry", "Aquaculture and Fishing", "Mining and Quarrying", "Other primary production",
        "Energy production", "Industry and Manufacturing",
        "Transport, Communication Networks, Storage, Protection Works", "Water and Waste Treatment",
        "Construction", "Commerce, Financial, Professional and Information Services", "Community services",
        "Recreation, Leisure, Sport", "Residential", "Abandoned areas", "Semi-natural and natural areas not in use",
    ),
    (
        ("U111", "U112", "U113"), ("U120",), ("U130",), ("U140",), ("U150",), ("U210",), _range("U22", 1, 8),
        _range("U31", 1, 9), ("U321", "U322"), ("U330",), ("U341", "U342"), ("U350",), ("U361", "U362"),
        ("U370",), _range("U41", 1, 5), ("U420",),
    ),
)

_CROPS = (
    ("B11", "Common wheat"), ("B12", "Durum wheat"), ("B13", "Barley"), ("B14", "Rye"), ("B15", "Oats"),
    ("B16", "Maize"), ("B17", "Rice"), ("B18", "Triticale"), ("B19", "Other cereals"), ("B21", "Potatoes"),
    ("B22", "Sugar beet"), ("B23", "Other root crops"), ("B31", "Sunflower"), ("B32", "Rape and turnip rape"),
    ("B33", "Soya"), ("B34", "Cotton"), ("B35", "Other fibre and oleaginous crops"), ("B36", "Tobacco"),
    ("B37", "Other non-permanent industrial crops"), ("B41", "Dry pulses"), ("B42", "Tomatoes"),
    ("B43", "Other fresh vegetables"), ("B44", "Floriculture and ornamental plants"), ("B45", "Strawberries"),
    ("B51", "Clovers"), ("B52", "Lucerne"), ("B53", "Other leguminous and mixtures for fodder"),
    ("B54", "Mix of cereals"), ("B55", "Temporary grassland"), ("B71", "Apple fruit"), ("B72", "Pear fruit"),
    ("B73", "Cherry fruit"), ("B74", "Nuts trees"), ("B75", "Other fruit trees and berries"), ("B76", "Oranges"),
    ("B77", "Other citrus fruit"), ("B81", "Olive groves"), ("B82", "Vineyards"), ("B83", "Nurseries"),
    ("B84", "Permanent industrial crops"),
)
CROPS = Task("crop", "Crops", tuple(n for _, n in _CROPS), tuple((c,) for c, _ in _CROPS))

# EUNIS level-2 habitat codes (EUNIS habitat classification) beside the authors' class order.
_EUNIS = (
    ("I1", "Arable land and market gardens"), ("J2", "Low density buildings"), ("E2", "Mesic grasslands"),
    ("G1", "Broadleaved deciduous woodland"), ("G3", "Coniferous woodland"),
    ("F3", "Temperate and mediterranean-montane scrub"), ("E3", "Seasonally wet and wet grasslands"),
    ("C2", "Surface running waters"), ("J1", "Buildings of cities, towns and villages"),
    ("G4", "Mixed deciduous and coniferous woodland"), ("E1", "Dry grasslands"),
    ("F2", "Arctic, alpine and subalpine scrub"), ("E4", "Alpine and subalpine grasslands"),
    ("G2", "Broadleaved evergreen woodland"),
    ("G5", "Lines of trees, small anthropogenic woodlands, recently felled woodland, early-stage woodland and coppice"),
    ("FB", "Shrub plantations"), ("F5", "Maquis, arborescent matorral and thermo-Mediterranean brushes"),
    ("F4", "Temperate shrub heathland"), ("D1", "Raised and blanket bogs"),
    ("J4", "Transport networks and other constructed hard-surfaced areas"), ("J3", "Extractive industrial sites"),
    ("F7", "Spiny Mediterranean heaths (phrygana, hedgehog-heaths and related coastal cliff vegetation)"),
    ("C1", "Surface standing waters"), ("F1", "Tundra"), ("H3", "Inland cliffs, rock pavements and outcrops"),
    ("F6", "Garrigue"), ("D3", "Aapa, palsa and polygon mires"), ("I2", "Cultivated areas of gardens and parks"),
    ("J6", "Waste deposits"), ("H5", "Miscellaneous inland habitats with very sparse or no vegetation"),
    ("E6", "Inland salt steppes"), ("E7", "Sparsely wooded grasslands"),
    ("D5", "Sedge and reedbeds, normally without free-standing water"),
    ("D2", "Valley mires, poor fens and transition mires"), ("F9", "Riverine and fen scrubs"), ("H2", "Screes"),
    ("D6", "Inland saline and brackish marshes and reedbeds"), ("B1", "Coastal dunes and sandy shores"),
    ("C3", "Littoral zone of inland surface waterbodies"),
    ("J5", "Highly artificial man-made waters and associated structures"),
    ("D4", "Base-rich fens and calcareous spring mires"), ("H4", "Snow or ice-dominated habitats"),
    ("B3", "Rock cliffs, ledges and shores, including the supralittoral"), ("B2", "Coastal shingle"),
)
EUNIS = Task("eunis", "EUNIS level 2 habitats", tuple(n for _, n in _EUNIS), tuple((c,) for c, _ in _EUNIS))

BIOREGION = Task(
    "bioregion",
    "Biogeographical regions",
    ("Alpine", "Anatolian", "Arctic", "Atlantic", "BlackSea", "Boreal", "Continental", "Macaronesia",
     "Mediterranean", "Outside", "Pannonian", "Steppic"),
)

_COUNTRIES = (
    ("AT", "Austria"), ("BE", "Belgium"), ("BG", "Bulgaria"), ("CY", "Cyprus"), ("CZ", "Czech Republic"),
    ("DE", "Germany"), ("DK", "Denmark"), ("EE", "Estonia"), ("EL", "Greece"), ("ES", "Spain"), ("FI", "Finland"),
    ("FR", "France"), ("HR", "Croatia"), ("HU", "Hungary"), ("IE", "Ireland"), ("IT", "Italy"), ("LT", "Lithuania"),
    ("LU", "Luxembourg"), ("LV", "Latvia"), ("MT", "Malta"), ("NL", "Netherlands"), ("PL", "Poland"),
    ("PT", "Portugal"), ("RO", "Romania"), ("SE", "Sweden"), ("SI", "Slovenia"), ("SK", "Slovakia"),
    ("UK", "United Kingdom"),
)
COUNTRY = Task("country", "Country", tuple(n for _, n in _COUNTRIES), tuple((c,) for c, _ in _COUNTRIES))

#: All tasks by key, in report order.
TASKS: dict[str, Task] = {t.name: t for t in (LAND_COVER, LAND_USE, CROPS, EUNIS, BIOREGION, COUNTRY)}


def get_task(name: str) -> Task:
    """The task called ``name``, or a clear error listing the known ones."""
    from tsmap.errors import InputError

    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]

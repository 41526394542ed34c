"""Prompt sets: classes and the sentences that describe them, read from YAML and validated.

A prompt file::

    name: land-cover                      # optional (default: file name)
    ensembling: mean                      # optional: mean (default) | max
    templates: ["a centered satellite image of {}"]   # optional, filled with each class name
    unknown:                              # optional "none of these" rule
      min_probability: 0.5                #   top-1 softmax probability below -> unknown
      min_similarity: 0.15                #   top-1 cosine below -> unknown
      negative: [Clouds]                  #   top-1 is one of these classes -> unknown
    classes:
      - name: Woodland                    # unique, non-empty
        code: C                           # optional, unique
        color: "#1a7f37"                  # optional, "#rrggbb"
        prompts: [a dense forest with tall trees, a path between pine trees]

A class without ``prompts`` is described by its name (and the templates).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources

from .errors import InputError
from .legend import Legend, rgb_hex
from .zeroshot import ENSEMBLING, UnknownRule
from .userfiles import load_yaml, read_text

#: Suffix of bundled scenicness sets (see :mod:`tsmap.scenic`); they are not class prompt sets.
SCENIC_SUFFIX = ".scenic.yaml"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_TOP_KEYS = {"name", "description", "classes", "templates", "ensembling", "unknown"}
_CLASS_KEYS = {"name", "code", "color", "prompts"}
_UNKNOWN_KEYS = {"min_similarity", "min_probability", "negative"}
#: Most texts one prompt set may encode (prompts plus templates x classes; 80 templates x 254 classes fit).
MAX_PROMPT_TEXTS = 25_000
#: Longest prompt, template or class name (characters); CLIP reads only the first 77 tokens anyway.
MAX_PROMPT_CHARS = 1_000


@dataclass(frozen=True)
class PromptClass:
    """One class of a prompt set."""

    name: str
    prompts: tuple[str, ...] = ()  #: descriptive sentences
    code: str | None = None
    color: str | None = None  #: "#rrggbb"


@dataclass(frozen=True)
class PromptSet:
    """Classes with their prompts, templates applied to every class name, and the scoring rules."""

    name: str
    classes: tuple[PromptClass, ...]
    templates: tuple[str, ...] = field(default=())
    ensembling: str = "mean"  #: how a class's prompts combine: "mean" (embedding average) or "max"
    unknown: UnknownRule | None = None  #: when a pixel is "none of these"
    description: str = ""

    def __post_init__(self) -> None:
        if self.ensembling not in ENSEMBLING:
            raise InputError(
                f"{self.name}: 'ensembling' must be one of {', '.join(ENSEMBLING)}, got {self.ensembling!r}"
            )
        if self.unknown is not None and any(not 0 <= i < len(self.classes) for i in self.unknown.negative):
            raise InputError(
                f"{self.name}: unknown.negative refers to a class index outside 0..{len(self.classes) - 1}"
            )

    def texts(self) -> list[list[str]]:
        """Every text to encode, grouped per class (prompts, then templates filled with the name)."""
        out = []
        for c in self.classes:
            texts = list(c.prompts) + [t.format(c.name) for t in self.templates]
            out.append(texts or [c.name])
        return out

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def negatives(self) -> list[str]:
        """Names of the classes that stand for "none of these" (never shown in the class map)."""
        return [self.classes[i].name for i in (self.unknown.negative if self.unknown else ())]

    def to_dict(self) -> dict:
        """The set as a plain document (the YAML schema), canonical: what :meth:`sha256` hashes."""
        doc: dict = {"name": self.name, "ensembling": self.ensembling}
        if self.templates:
            doc["templates"] = list(self.templates)
        if self.unknown is not None:
            u = {"min_similarity": self.unknown.min_similarity, "min_probability": self.unknown.min_probability}
            doc["unknown"] = {k: v for k, v in u.items() if v is not None}
            if self.unknown.negative:
                doc["unknown"]["negative"] = self.negatives
        doc["classes"] = [
            {
                k: v
                for k, v in (("name", c.name), ("code", c.code), ("color", c.color), ("prompts", list(c.prompts)))
                if v
            }
            for c in self.classes
        ]
        return doc

    def to_json(self) -> str:
        """Compact canonical JSON of :meth:`to_dict` (recorded in output tags)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def sha256(self) -> str:
        """Hash of everything that defines the set, so an output can be traced to its exact prompts."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def _repr_html_(self) -> str:
        """A notebook table: value, colour swatch, name and prompt texts of every class."""
        from html import escape

        legend = Legend.from_prompts(self)
        rows = "".join(
            f"<tr><td>{i}</td><td style='background:{rgb_hex(rgb)};width:1.5em'></td><td>{escape(c.name)}</td>"
            f"<td style='text-align:left'>{escape(' | '.join(texts))}</td></tr>"
            for i, (c, rgb, texts) in enumerate(zip(self.classes, legend.colors, self.texts()))
        )
        head = f"<strong>{escape(self.name)}</strong>: {len(self.classes)} classes, ensembling {self.ensembling}"
        return f"<div>{head}<table><tr><th>value</th><th></th><th>class</th><th>prompts</th></tr>{rows}</table></div>"


def bundled() -> list[str]:
    """Names of the class prompt sets shipped with tsmap (e.g. ``land-cover``, ``crops``)."""
    return sorted(
        p.name[:-5]
        for p in resources.files("tsmap.prompt_sets").iterdir()
        if p.name.endswith(".yaml") and not p.name.endswith(SCENIC_SUFFIX)
    )


def read_document(
    source: str | os.PathLike, *, kind: str, names: list[str], suffix: str = ".yaml"
) -> tuple[object, str]:
    """Parsed YAML of a file, or of a bundled file by name; returns ``(document, default name)``."""
    source = str(source)
    if os.path.exists(source):
        text, name = read_text(source, kind=f"{kind} file"), os.path.splitext(os.path.basename(source))[0]
    elif source in names:
        text, name = resources.files("tsmap.prompt_sets").joinpath(f"{source}{suffix}").read_text("utf-8"), source
    else:
        raise InputError(
            f"{kind} file {source!r} does not exist; give a YAML file or a bundled set ({', '.join(names)})"
        )
    return load_yaml(text, where=f"{kind} {source!r}"), name


def load_prompts(source: str | os.PathLike) -> PromptSet:
    """Read a prompt set from a YAML file, or a bundled set by name (e.g. ``"land-cover"``)."""
    doc, name = read_document(source, kind="prompts", names=bundled())
    return parse_prompts(doc, name=name, where=str(source))


def parse_prompts(doc, *, name: str = "prompts", where: str = "prompts") -> PromptSet:
    """Validate a parsed YAML document into a :class:`PromptSet`; errors name the class and field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("classes"), list) or not doc["classes"]:
        raise InputError(f"{where}: needs a non-empty list 'classes:' of {{name: ..., prompts: [...]}}")
    _no_unknown_keys(doc, _TOP_KEYS, where)
    templates = _strings(doc.get("templates", []), f"{where}: 'templates'")
    for t in templates:
        if "{}" not in t or t.count("{") != 1 or t.count("}") != 1:
            raise InputError(f"{where}: template {t!r} needs exactly one '{{}}' placeholder for the class name")
    classes = tuple(_parse_class(entry, i, where) for i, entry in enumerate(doc["classes"]))
    _unique([c.name.casefold() for c in classes], [c.name for c in classes], where, "class", "class names")
    codes = [c.code for c in classes if c.code is not None]
    _unique(codes, codes, where, "code", "codes")
    if len(classes) > 254:
        raise InputError(
            f"{where}: {len(classes)} classes; at most 254 fit the uint8 class map (254/255 are unknown/nodata)"
        )
    n_texts = sum(len(c.prompts) + len(templates) or 1 for c in classes)
    if n_texts > MAX_PROMPT_TEXTS:
        raise InputError(
            f"{where}: {n_texts:,} texts to encode (prompts plus templates x classes); "
            f"at most {MAX_PROMPT_TEXTS:,} per set, so use fewer templates or prompts"
        )
    ensembling = doc.get("ensembling", "mean")
    if ensembling not in ENSEMBLING:
        raise InputError(f"{where}: 'ensembling' must be one of {', '.join(ENSEMBLING)}, got {ensembling!r}")
    unknown = _parse_unknown(doc.get("unknown"), [c.name for c in classes], where)
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{where}: 'description' must be text")
    return PromptSet(
        name=str(doc.get("name", name)), classes=classes, templates=templates,
        ensembling=ensembling, unknown=unknown, description=description.strip(),
    )


def _parse_class(entry, i: int, where: str) -> PromptClass:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), (str, int)) or not str(entry["name"]).strip():
        raise InputError(f"{where}: class #{i + 1} needs a non-empty 'name'")
    cname = str(entry["name"]).strip()
    check_length(cname, f"{where}: class #{i + 1} name")
    _no_unknown_keys(entry, _CLASS_KEYS, f"{where}: class {cname!r}")
    prompts = _strings(entry.get("prompts", []), f"{where}: class {cname!r} prompts")
    if "prompts" in entry and not prompts:
        raise InputError(
            f"{where}: class {cname!r} has an empty 'prompts' list; add prompts or drop the key to use the name"
        )
    if len(set(prompts)) != len(prompts):
        raise InputError(f"{where}: class {cname!r} prompts repeat a sentence; each prompt must be unique")
    code, color = entry.get("code"), entry.get("color")
    if code is not None and (not isinstance(code, (str, int)) or not str(code).strip()):
        raise InputError(f"{where}: class {cname!r} 'code' must be a non-empty string or number")
    if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
        raise InputError(f"{where}: class {cname!r} 'color' must be '#rrggbb', got {color!r}")
    return PromptClass(cname, prompts, None if code is None else str(code).strip(), color and color.lower())


def _parse_unknown(doc, names: list[str], where: str) -> UnknownRule | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or not doc:
        raise InputError(f"{where}: 'unknown' must be a mapping with min_similarity, min_probability and/or negative")
    _no_unknown_keys(doc, _UNKNOWN_KEYS, f"{where}: unknown")
    values = {}
    for key, lo in (("min_similarity", -1.0), ("min_probability", 0.0)):
        v = doc.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= 1):
            raise InputError(f"{where}: unknown.{key} must be a number in [{lo:g}, 1], got {v!r}")
        values[key] = None if v is None else float(v)
    negative = _strings(doc.get("negative", []), f"{where}: unknown.negative")
    for n in negative:
        if n not in names:
            raise InputError(
                f"{where}: unknown.negative names {n!r}, which is not a class; list it under 'classes' too"
            )
    if len(negative) >= len(names):
        raise InputError(f"{where}: unknown.negative lists every class; leave at least one class to map")
    return UnknownRule(**values, negative=tuple(names.index(n) for n in negative))


def _no_unknown_keys(doc: dict, allowed: set, where: str) -> None:
    extra = sorted(str(k) for k in doc if k not in allowed)
    if extra:
        raise InputError(f"{where}: unknown field {extra[0]!r}; allowed fields are {', '.join(sorted(allowed))}")


def _unique(keys: list, labels: list, where: str, what: str, plural: str) -> None:
    seen = set()
    for key, label in zip(keys, labels):
        if key in seen:
            raise InputError(f"{where}: {what} {label!r} appears twice; {plural} must be unique")
        seen.add(key)


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{what} must be a list of non-empty strings")
    for v in value:
        check_length(v, what)
    return tuple(v.strip() for v in value)


def check_length(text: str, what: str) -> None:
    """Refuse a prompt, template or name longer than :data:`MAX_PROMPT_CHARS`."""
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(
            f"{what}: a text of {len(text):,} characters ({text[:30]!r}...); "
            f"at most {MAX_PROMPT_CHARS:,} characters per prompt (CLIP reads only the first 77 tokens)"
        )

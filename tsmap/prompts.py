"""Prompt sets: classes and the sentences that describe them, read from YAML."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources

import yaml

from .errors import InputError


@dataclass(frozen=True)
class PromptClass:
    """One class of a prompt set."""

    name: str
    prompts: tuple[str, ...] = ()  #: descriptive sentences
    code: str | None = None
    color: str | None = None  #: "#rrggbb"


@dataclass(frozen=True)
class PromptSet:
    """Classes with their prompts, plus templates applied to every class name."""

    name: str
    classes: tuple[PromptClass, ...]
    templates: tuple[str, ...] = field(default=())

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

    def sha256(self) -> str:
        """Hash of the exact texts, so an output can be traced to its prompts."""
        return hashlib.sha256(json.dumps([self.names, self.texts()]).encode()).hexdigest()


def bundled() -> list[str]:
    """Names of the prompt sets shipped with tsmap."""
    return sorted(p.name[:-5] for p in resources.files("tsmap.prompt_sets").iterdir() if p.name.endswith(".yaml"))


def load_prompts(source: str | os.PathLike) -> PromptSet:
    """Read a prompt set from a YAML file, or a bundled set by name (e.g. ``"land-cover"``)."""
    source = str(source)
    if os.path.exists(source):
        with open(source, encoding="utf-8") as f:
            text, name = f.read(), os.path.splitext(os.path.basename(source))[0]
    elif source in bundled():
        text, name = resources.files("tsmap.prompt_sets").joinpath(f"{source}.yaml").read_text("utf-8"), source
    else:
        raise InputError(
            f"prompts file {source!r} does not exist; give a YAML file or a bundled set ({', '.join(bundled())})"
        )
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"prompts {source!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_prompts(doc, name=name, where=source)


def parse_prompts(doc, *, name: str = "prompts", where: str = "prompts") -> PromptSet:
    """Validate a parsed YAML document into a :class:`PromptSet`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("classes"), list) or not doc["classes"]:
        raise InputError(f"{where}: needs a non-empty list 'classes:' of {{name: ..., prompts: [...]}}")
    templates = _strings(doc.get("templates", []), f"{where}: templates")
    for t in templates:
        if "{}" not in t:
            raise InputError(f"{where}: template {t!r} has no '{{}}' placeholder for the class name")
    classes, seen = [], set()
    for i, entry in enumerate(doc["classes"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise InputError(f"{where}: class #{i + 1} needs a non-empty 'name'")
        cname = entry["name"].strip()
        if cname in seen:
            raise InputError(f"{where}: class {cname!r} appears twice; class names must be unique")
        seen.add(cname)
        prompts = _strings(entry.get("prompts", []), f"{where}: class {cname!r} prompts")
        code = entry.get("code")
        classes.append(PromptClass(cname, prompts, None if code is None else str(code), entry.get("color")))
    if len(classes) > 254:
        raise InputError(f"{where}: {len(classes)} classes; at most 254 fit the uint8 class map")
    return PromptSet(name=str(doc.get("name", name)), classes=tuple(classes), templates=templates)


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{what} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)

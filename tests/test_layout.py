"""The README's Layout section is the map of the package: it must list every module, and only real ones."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Layout") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


def test_readme_layout_lists_exactly_the_modules_of_tsmap_and_train():
    block = _layout_block()
    listed = {}
    package = None
    for line in block.splitlines():
        if not line.startswith(" "):  # a top-level folder: tsmap/, train/, tests/, examples/
            package = line.split("/")[0]
        elif package in ("tsmap", "train"):
            modules = re.split(r"\s{2,}", line.strip())[0]  # the name column, before the description
            listed.setdefault(package, set()).update(re.findall(r"[a-z0-9_]+\.py", modules))
    for package in ("tsmap", "train"):
        on_disk = {p.name for p in (ROOT / package).glob("*.py")}
        assert listed.get(package) == on_disk, (
            f"README Layout vs {package}/: missing {sorted(on_disk - listed.get(package, set()))}, "
            f"not on disk {sorted(listed.get(package, set()) - on_disk)}"
        )

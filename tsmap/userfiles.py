"""Reading the text files users hand to tsmap (prompt sets, rated prompts, training configs) safely.

* :func:`read_text` refuses a folder, a file above a size limit and text that is not UTF-8, each with
  one line naming the file and the fix.
* :func:`load_yaml` parses with PyYAML's own ``SafeLoader`` (no Python objects), extended to count how
  many nodes the document expands to through its aliases: a "billion laughs" document (a few lines
  whose nested aliases stand for billions of strings) is refused while it is being composed, before
  anything walks the expanded tree and memory grows. Merge keys (``<<: *defaults``) keep working.
"""

from __future__ import annotations

import os

import yaml

from .errors import InputError

#: Largest text file read (bytes): far above any real prompt set or config.
MAX_FILE_BYTES = 10 << 20
#: Most nodes a YAML document may expand to through its aliases (a 25,000-prompt set is ~30,000).
MAX_YAML_NODES = 1_000_000


def read_text(path: str | os.PathLike, *, kind: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the file ``path``; ``kind`` names it in errors ("prompts file", "config")."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"{kind} {path!r} is a folder; give the file itself")
    if not os.path.isfile(path):
        raise InputError(f"{kind} {path!r} does not exist")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise InputError(f"{kind} {path!r} is {size / 2**20:,.1f} MB; at most {max_bytes / 2**20:,.0f} MB is read")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{kind} {path!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's ``SafeLoader`` that refuses documents expanding to more than :data:`MAX_YAML_NODES` nodes.

    Each composed node gets a weight: 1 plus the weights of its children, where an alias weighs what
    its anchored node weighs. The weights are summed as the composer builds the graph (which is as
    small as the text), so a document that would expand beyond the limit stops at the first node
    that crosses it.
    """

    max_nodes = MAX_YAML_NODES

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._weight: dict[int, int] = {}
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
        node = super().compose_node(parent, index)
        if id(node) not in self._weight:
            self._weight[id(node)] = weight = 1 + sum(self._weight[id(child)] for child in _children(node))
            if weight > self.max_nodes:
                raise _TooLarge(weight, self._aliases)
        return node


class _TooLarge(Exception):
    def __init__(self, nodes: int, aliases: int) -> None:
        super().__init__(nodes, aliases)
        self.nodes, self.aliases = nodes, aliases


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return ()


def load_yaml(text: str, *, where: str):
    """The Python value of YAML ``text`` (plain types only); ``where`` names the source in errors."""
    try:
        return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooLarge as exc:
        cause = f"its {exc.aliases:,} aliases expand" if exc.aliases else "it expands"
        raise InputError(
            f"{where}: {cause} to more than {MAX_YAML_NODES:,} YAML nodes (an alias bomb?); "
            "write the values out instead of repeating aliases"
        ) from None
    except RecursionError:
        raise InputError(
            f"{where} is nested too deeply to be a tsmap file; check its brackets and indentation"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None

"""User text files: UTF-8, size and folder checks, and YAML that cannot expand into an alias bomb."""

from __future__ import annotations

import pytest

from tsmap.errors import InputError
from tsmap.userfiles import MAX_YAML_NODES, BoundedLoader, load_yaml, read_text

from .badinput import ALIAS_BOMB


def test_plain_yaml_anchors_and_merge_keys_still_load():
    text = "base: &b {lr: 0.1, steps: 3}\nrun: {<<: *b, steps: 5}\nlist: &l [1, 2]\nagain: *l\n"
    assert load_yaml(text, where="t") == {"base": {"lr": 0.1, "steps": 3}, "run": {"lr": 0.1, "steps": 5},
                                          "list": [1, 2], "again": [1, 2]}


def test_an_alias_bomb_is_refused_while_it_is_composed(monkeypatch):
    composed = []
    original = BoundedLoader.compose_node

    def counting(self, parent, index):
        composed.append(1)
        return original(self, parent, index)

    monkeypatch.setattr(BoundedLoader, "compose_node", counting)
    with pytest.raises(InputError, match=f"aliases expand to more than {MAX_YAML_NODES:,} YAML nodes"):
        load_yaml(ALIAS_BOMB, where="bomb.yaml")
    assert len(composed) < 200  # the graph as written (about 90 nodes), never the 9**9 strings it stands for


def test_a_merge_key_bomb_is_refused_too():
    lines = ["a0: &a0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8, k8: 9, k9: 10}"]
    lines += [f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 10)}]}}" for i in range(1, 9)]
    with pytest.raises(InputError, match="YAML nodes"):
        load_yaml("\n".join(lines) + "\n", where="merge.yaml")


def test_deep_nesting_and_python_tags_are_one_line_errors():
    with pytest.raises(InputError, match="nested too deeply"):
        load_yaml("a: " + "[" * 5000 + "]" * 5000, where="deep.yaml")
    with pytest.raises(InputError, match="not valid YAML"):
        load_yaml("!!python/object/apply:os.system [echo hi]", where="tag.yaml")


def test_read_text_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "latin.yaml").write_bytes("name: K\xf6ln\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 0xf6 at position 7\); save it as UTF-8"):
        read_text(tmp_path / "latin.yaml", kind="prompts file")
    with pytest.raises(InputError, match="is a folder"):
        read_text(tmp_path, kind="prompts file")
    (tmp_path / "big.yaml").write_text("x" * 2000)
    with pytest.raises(InputError, match="at most 0 MB is read"):
        read_text(tmp_path / "big.yaml", kind="config", max_bytes=1000)
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfname: a\n")
    assert read_text(tmp_path / "bom.yaml", kind="config") == "name: a\n"

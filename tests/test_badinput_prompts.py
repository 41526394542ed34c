"""`tsmap prompts`: a bad prompt file is one line naming the file and the fix (table-driven)."""

from __future__ import annotations

import pytest

from tsmap.cli import main

from .badinput import ALIAS_BOMB, DEEP_YAML, LATIN1_PROMPTS, Case, long_prompt, many_texts, run_case, write


def _file(text):
    return lambda root: write(root, "in/p.yaml", text)


CASES = [
    Case("missing", ("prompts", "{in}/none.yaml"), phrase="does not exist"),
    Case("unknown-name", ("prompts", "landcover"), phrase="does not exist"),
    Case("folder", ("prompts", "{in}"), phrase="is a folder"),
    Case("latin1", ("prompts", "{in}/p.yaml"), phrase="is not UTF-8", setup=_file(LATIN1_PROMPTS)),
    Case(
        "utf16",
        ("prompts", "{in}/p.yaml"),
        phrase="is not UTF-8",
        setup=_file("classes: [{name: a}]\n".encode("utf-16")),
    ),
    Case("alias-bomb", ("prompts", "{in}/p.yaml"), phrase="aliases", setup=_file(ALIAS_BOMB)),
    Case("too-deep", ("prompts", "{in}/p.yaml"), phrase="nested", setup=_file(DEEP_YAML)),
    Case("not-yaml", ("prompts", "{in}/p.yaml"), phrase="not valid YAML", setup=_file("classes: {a\n")),
    Case("a-list", ("prompts", "{in}/p.yaml"), phrase="non-empty list 'classes:'", setup=_file("- a\n- b\n")),
    Case("too-many-texts", ("prompts", "{in}/p.yaml"), phrase="25,000", setup=_file(many_texts())),
    Case("too-many-classes", ("prompts", "{in}/p.yaml"), phrase="at most 254", setup=_file(many_texts(300, 1))),
    Case("too-long", ("prompts", "{in}/p.yaml"), phrase="1,000 characters", setup=_file(long_prompt())),
    Case(
        "duplicate-class",
        ("prompts", "{in}/p.yaml"),
        phrase="appears twice",
        setup=_file("classes: [{name: a}, {name: A}]\n"),
    ),
    Case(
        "bad-colour", ("prompts", "{in}/p.yaml"), phrase="'#rrggbb'", setup=_file("classes: [{name: a, color: red}]\n")
    ),
    Case(
        "unknown-field",
        ("prompts", "{in}/p.yaml"),
        phrase="unknown field 'colour'",
        setup=_file("classes: [{name: a, colour: '#ff0000'}]\n"),
    ),
    Case(
        "python-tag",
        ("prompts", "{in}/p.yaml"),
        phrase="not valid YAML",
        setup=_file("classes: !!python/object/apply:os.system [echo]\n"),
    ),
    Case(
        "huge-file",
        ("prompts", "{in}/p.yaml"),
        phrase="MB",
        setup=_file("# " + "x" * (11 << 20) + "\nclasses: [{name: a}]\n"),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_prompts_bad_input(case, tmp_path):
    run_case(case, tmp_path, main)

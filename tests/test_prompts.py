import re

import pytest
from click.testing import CliRunner

from tsmap.cli import main
from tsmap.errors import InputError
from tsmap.prompts import bundled, load_prompts, parse_prompts
from tsmap.zeroshot import UnknownRule

from .conftest import data_path


def reference_lists() -> dict[str, list[tuple[str, str]]]:
    """(code-or-empty, name) per section of the TimeSenCLIP class lists (tests/data/timesenclip)."""
    text = data_path("timesenclip", "class-lists.txt").read_text()
    sections, current = {}, None
    for line in text.splitlines():
        header = re.match(r"^## ([A-Z][A-Z0-9 ]*[A-Z0-9])\b", line)
        if header:
            current = header.group(1).strip()
            sections[current] = []
            continue
        m = re.match(r"^(\d+)\s+(B\d\d\s+)?(.+?)(\s+<-.*)?$", line)
        if current and m:
            sections[current].append(((m.group(2) or "").strip(), m.group(3).strip()))
    return sections


def test_bundled_land_cover():
    assert "land-cover" in bundled()
    ps = load_prompts("land-cover")
    assert ps.names[:3] == ["Artificial Land", "Cropland", "Woodland"] and len(ps.names) == 8
    assert all(len(t) >= 3 for t in ps.texts())
    assert len(ps.sha256()) == 64


def test_bundled_sets_follow_the_reference_class_lists():
    ref = reference_lists()
    expect = {"land-cover": "LAND COVER", "land-use": "LAND USE", "crops": "CROPS", "eunis": "EUNIS LEVEL 2"}
    assert set(bundled()) == set(expect) | {"bioregions"}
    for name, section in expect.items():
        ps = load_prompts(name)
        assert ps.names == [n for _, n in ref[section]], name
        assert len(ps.names) == {"land-cover": 8, "land-use": 16, "crops": 40, "eunis": 44}[name]
    crops = load_prompts("crops")
    assert [c.code for c in crops.classes] == [code for code, _ in ref["CROPS"]]
    # bioregions: the 8 regions of the LUCAS points, coded by their index in the 12-name source list
    twelve = [n for _, n in ref["BIOREGIONS"]]
    bio = load_prompts("bioregions")
    assert sorted(bio.names) == sorted(
        ["Continental", "Mediterranean", "Atlantic", "Boreal", "Alpine", "Pannonian", "Steppic", "BlackSea"]
    )
    assert [int(c.code) for c in bio.classes] == [twelve.index(n) for n in bio.names]


@pytest.mark.parametrize("name", ["land-cover", "land-use", "crops", "eunis", "bioregions"])
def test_bundled_sets_are_complete_and_legible(name):
    ps = load_prompts(name)
    assert ps.name == name and ps.ensembling == "mean" and ps.unknown is None
    for c in ps.classes:
        assert 3 <= len(c.prompts) <= 5, c.name
        assert all(len(p.split()) <= 14 for p in c.prompts), c.name  # short sentences
        assert re.fullmatch(r"#[0-9a-f]{6}", c.color) and c.code
    assert len({c.color for c in ps.classes}) == len(ps.classes)  # a legend tells every class apart
    assert len({c.code for c in ps.classes}) == len(ps.classes)
    assert len({p for c in ps.classes for p in c.prompts}) == sum(len(c.prompts) for c in ps.classes)


def test_templates_combine_with_names(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "classes:\n  - name: forest\n  - name: lake\n    prompts: [a calm lake]\ntemplates: ['a photo of {}']\n"
    )
    ps = load_prompts(f)
    assert ps.texts() == [["a photo of forest"], ["a calm lake", "a photo of lake"]]
    plain = parse_prompts({"classes": [{"name": "forest"}]})
    assert plain.texts() == [["forest"]]


def test_unknown_rule_and_provenance_hash():
    doc = {
        "name": "open-set",
        "ensembling": "max",
        "unknown": {"min_probability": 0.4, "min_similarity": 0.1, "negative": ["other"]},
        "classes": [{"name": "a", "prompts": ["x"]}, {"name": "other", "prompts": ["y"]}, {"name": "b", "code": 7}],
    }
    ps = parse_prompts(doc)
    assert ps.ensembling == "max" and ps.unknown == UnknownRule(0.1, 0.4, (1,)) and ps.negatives == ["other"]
    assert ps.classes[2].code == "7"
    again = parse_prompts(ps.to_dict())
    assert again == ps and again.sha256() == ps.sha256()
    changed = dict(doc, classes=[{"name": "a", "prompts": ["x!"]}] + doc["classes"][1:])
    assert parse_prompts(changed).sha256() != ps.sha256()
    assert parse_prompts(dict(doc, ensembling="mean")).sha256() != ps.sha256()


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"classes": []}, "non-empty list 'classes:'"),
        ({"classes": [{"prompts": ["x"]}]}, "class #1 needs a non-empty 'name'"),
        ({"classes": [None]}, "class #1 needs a non-empty 'name'"),
        ({"classes": [{"name": "a"}, {"name": "a"}]}, "class 'a' appears twice"),
        ({"classes": [{"name": "Water"}, {"name": "water "}]}, "class 'water' appears twice"),
        ({"classes": [{"name": "a", "prompts": "x"}]}, "class 'a' prompts must be a list"),
        ({"classes": [{"name": "a", "prompts": []}]}, "class 'a' has an empty 'prompts' list"),
        ({"classes": [{"name": "a", "prompts": ["x", "x"]}]}, "class 'a' prompts repeat"),
        ({"classes": [{"name": "a", "prompt": ["x"]}]}, "class 'a': unknown field 'prompt'"),
        ({"classes": [{"name": "a", "color": "red"}]}, "class 'a' 'color' must be '#rrggbb'"),
        ({"classes": [{"name": "a", "code": 1}, {"name": "b", "code": "1"}]}, "code '1' appears twice"),
        ({"classes": [{"name": "a"}], "templates": ["no slot"]}, "needs exactly one '{}' placeholder"),
        ({"classes": [{"name": "a"}], "clases": []}, "unknown field 'clases'"),
        ({"classes": [{"name": "a"}], "ensembling": "median"}, "'ensembling' must be one of mean, max"),
        (
            {"classes": [{"name": "a"}], "unknown": {"min_probability": 2}},
            r"unknown.min_probability must be a number in \[0, 1\]",
        ),
        ({"classes": [{"name": "a"}], "unknown": {"threshold": 0.5}}, "unknown: unknown field 'threshold'"),
        (
            {"classes": [{"name": "a"}, {"name": "b"}], "unknown": {"negative": ["c"]}},
            "names 'c', which is not a class",
        ),
        ({"classes": [{"name": "a"}], "unknown": {"negative": ["a"]}}, "lists every class"),
        ({"classes": [{"name": f"c{i}"} for i in range(255)]}, "at most 254"),
    ],
)
def test_bad_prompt_files(doc, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_prompts(doc)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_prompts(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML") as err:
        load_prompts(bad)
    assert "\n" not in str(err.value)


def test_cli_lists_shows_and_rejects_prompt_sets(tmp_path):
    res = CliRunner().invoke(main, ["prompts"])
    assert res.exit_code == 0, res.output
    assert re.search(r"crops\s+40 classes", res.output) and re.search(r"eunis\s+44 classes", res.output)
    res = CliRunner().invoke(main, ["prompts", "bioregions"])
    assert res.exit_code == 0 and "BlackSea" in res.output and load_prompts("bioregions").sha256() in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes:\n  - name: a\n    color: blue\n")
    res = CliRunner().invoke(main, ["prompts", str(bad)])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "'color' must be '#rrggbb'" in res.output

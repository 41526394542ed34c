import pytest

from tsmap.errors import InputError
from tsmap.prompts import bundled, load_prompts, parse_prompts


def test_bundled_land_cover():
    assert "land-cover" in bundled()
    ps = load_prompts("land-cover")
    assert ps.names[:3] == ["Artificial Land", "Cropland", "Woodland"] and len(ps.names) == 8
    assert all(len(t) >= 3 for t in ps.texts())
    assert len(ps.sha256()) == 64


def test_templates_combine_with_names(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("classes:\n  - name: forest\n  - name: lake\n    prompts: [a calm lake]\ntemplates: ['a photo of {}']\n")
    ps = load_prompts(f)
    assert ps.texts() == [["a photo of forest"], ["a calm lake", "a photo of lake"]]
    plain = parse_prompts({"classes": [{"name": "forest"}]})
    assert plain.texts() == [["forest"]]


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"classes": []}, "non-empty list 'classes:'"),
        ({"classes": [{"prompts": ["x"]}]}, "class #1 needs a non-empty 'name'"),
        ({"classes": [{"name": "a"}, {"name": "a"}]}, "class 'a' appears twice"),
        ({"classes": [{"name": "a", "prompts": "x"}]}, "class 'a' prompts must be a list"),
        ({"classes": [{"name": "a"}], "templates": ["no slot"]}, "no '{}' placeholder"),
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
    with pytest.raises(InputError, match="not valid YAML"):
        load_prompts(bad)

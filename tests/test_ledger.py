from tsmap.ledger import DONE, FAILED, MISSING, Ledger


def test_resumes_the_same_run_and_restarts_a_different_one(tmp_path):
    path = tmp_path / "map.tif.ledger.jsonl"
    ledger = Ledger.open(path, fingerprint="abc", tiles=3)
    assert not ledger.resumed
    ledger.record("r0000c0000", DONE, valid_pixels=10)
    ledger.record("r0000c0001", FAILED, error="HTTP 503")
    again = Ledger.open(path, fingerprint="abc", tiles=3)
    assert again.resumed and again.done("r0000c0000") and not again.done("r0000c0001")
    assert again.tiles_with(FAILED) == ["r0000c0001"] and again.errors["r0000c0001"] == "HTTP 503"
    other = Ledger.open(path, fingerprint="xyz", tiles=3)
    assert not other.resumed and other.status == {} and Ledger.load(path).fingerprint == "xyz"


def test_a_line_cut_short_by_a_crash_is_ignored(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = Ledger.open(path, fingerprint="f", tiles=2)
    ledger.record("r0000c0000", DONE)
    with open(path, "a") as f:
        f.write('{"status": "done", "tile": "r00')  # kill -9 mid-write
    back = Ledger.load(path)
    assert back.tiles_with(DONE) == ["r0000c0000"]


def test_completion_and_later_events(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = Ledger.open(path, fingerprint="f", tiles=2)
    ledger.record("a", DONE)
    ledger.record("b", FAILED, error="boom")
    ledger.record("b", MISSING, error="boom")
    ledger.mark_complete(["map.tif"], missing=["b"])
    back = Ledger.load(path)
    assert back.complete and back.outputs == ["map.tif"] and back.tiles_with(MISSING) == ["b"]
    back.record("b", DONE)  # a later rerun fills the hole: the run is no longer complete until marked again
    assert not Ledger.load(path).complete and Ledger.load(path).errors == {}
    assert Ledger.load(tmp_path / "absent.jsonl") is None


def test_a_resumed_ledger_ends_a_cut_line_before_the_next_event(tmp_path):
    path = tmp_path / "l.jsonl"
    Ledger.open(path, fingerprint="f", tiles=3).record("a", DONE)
    with open(path, "a") as f:
        f.write('{"status": "done", "tile": "b')  # kill -9 mid-write
    again = Ledger.open(path, fingerprint="f", tiles=3)
    again.record("c", DONE)
    assert Ledger.load(path).tiles_with(DONE) == ["a", "c"]


def test_skipped_assets_and_inputs_are_kept_per_tile(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = Ledger.open(
        path, fingerprint="f", tiles=3, inputs={"parts": {"grid": "1"}, "stamps": {"/a.tif": "3 bytes"}}
    )
    ledger.record("t1", DONE, skipped=[["item", "B04", "cannot read"]])
    ledger.record("t2", DONE, skipped=[["item", "B04", "cannot read"], ["item", "SCL", "gone"]])
    ledger.record("t3", FAILED, error="x")
    back = Ledger.load(path)
    assert back.inputs["stamps"] == {"/a.tif": "3 bytes"}
    assert back.skipped_assets() == [
        {"item": "item", "band": "B04", "error": "cannot read", "tiles": ["t1", "t2"]},
        {"item": "item", "band": "SCL", "error": "gone", "tiles": ["t2"]},
    ]
    back.record("t2", DONE)  # recomputed without trouble: no longer skipped there
    assert [a["tiles"] for a in Ledger.load(path).skipped_assets()] == [["t1"]]

import threading

import numpy as np

from tsmap.batching import SharedBatches
from tsmap.encode import PixelEncoder
from tsmap.encode import EncoderSpec
from tsmap.model import EncoderConfig, build_encoder

SMALL = EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=8)


def test_concurrent_tiles_share_batches_and_get_their_own_pixels_back():
    direct = PixelEncoder(build_encoder(SMALL), device="cpu", batch_size=10_000)
    calls = []
    counting = lambda block: calls.append(block.shape[0]) or direct(block)  # noqa: E731
    counting.out_dim = direct.out_dim
    shared = SharedBatches(counting, min_pixels=400, wait_s=0.5)
    rng = np.random.default_rng(0)
    blocks = [rng.uniform(100, 4000, size=(10, 10, 12, 10)).astype(np.float32) for _ in range(4)]
    blocks[2][3, 4] = np.nan  # a pixel without data stays NaN
    results = [None] * 4
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, shared(blocks[i]))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(calls) == 400 and len(calls) < 4  # the tiles' pixels went through in shared batches
    for block, got in zip(blocks, results):
        np.testing.assert_array_equal(got, direct(block))  # CPU results do not depend on batch composition
    assert np.isnan(results[2][3, 4]).all()


def test_errors_reach_every_waiting_tile():
    def broken(block):
        raise RuntimeError("device lost")

    broken.out_dim = 8
    shared = SharedBatches(broken, min_pixels=10)
    try:
        shared(np.zeros((2, 12, 10), np.float32))
    except RuntimeError as exc:
        assert "device lost" in str(exc)
    else:
        raise AssertionError("the error was swallowed")


def test_spec_shares_batches_on_request_and_loads_once():
    spec = EncoderSpec(config=SMALL, device="cpu", share_batches=True, batch_size=64)
    first = spec.load()
    assert isinstance(first, SharedBatches) and spec.load() is first and first.preprocessing is not None
    assert not isinstance(EncoderSpec(config=SMALL, device="cpu").load(), SharedBatches)


def test_a_run_with_shared_batches_makes_the_same_maps(demo_scene, tmp_path):
    import dataclasses

    from .pipeline_helpers import SMALL as SMALL_512
    from .pipeline_helpers import predict_scene, same_maps

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    plain = predict_scene(demo_scene, tmp_path / "a" / "map.tif", workers=2)
    shared = predict_scene(
        demo_scene, tmp_path / "b" / "map.tif", workers=2, encoder=dataclasses.replace(SMALL_512, share_batches=True)
    )
    assert same_maps(plain.class_map, shared.class_map) and same_maps(plain.score_map, shared.score_map)

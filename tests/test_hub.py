"""The Hub with no network: cached files load without it, missing ones fail at once (no retries), in one line."""

import socket

import huggingface_hub
from huggingface_hub import constants as hub_constants
import pytest

from tsmap import hub
from tsmap.checkpoint import load_checkpoint, save_checkpoint
from tsmap.errors import ModelError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.specs import AUTHORS
from tsmap.text import encode_texts


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """An empty Hub cache, downloads allowed (as for a user), and no host reachable; counts connection attempts."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)
    hub._unreachable.cache_clear()
    yield attempts
    hub._unreachable.cache_clear()


def test_a_checkpoint_that_must_be_downloaded_fails_at_once_with_one_line(no_network, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("downloaded with no network"))
    with pytest.raises(ModelError) as err:
        load_checkpoint("hf://owner/repo/model.ckpt")
    message = str(err.value)
    assert message.startswith("cannot download hf://owner/repo/model.ckpt: huggingface.co cannot be reached")
    assert "\n" not in message and "local path" in message
    assert no_network == [("huggingface.co", 443)]  # asked once, no retries


def test_a_cached_checkpoint_loads_without_asking_the_network(no_network, tmp_path):
    snapshot = tmp_path / "hub" / "models--owner--repo" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (tmp_path / "hub" / "models--owner--repo" / "refs").mkdir()
    (tmp_path / "hub" / "models--owner--repo" / "refs" / "main").write_text("0" * 40)
    model = build_encoder(EncoderConfig(dim=64, depth=1, heads=8, mlp_dim=32, out_dim=16), seed=1)
    save_checkpoint(snapshot / "model.safetensors", model, AUTHORS, text_model="open_clip:ViT-B-32-quickgelu/openai")
    assert hub.cached_file("owner/repo", "model.safetensors") == str(snapshot / "model.safetensors")
    loaded = load_checkpoint("hf://owner/repo/model.safetensors")
    assert loaded.model.config == model.config and no_network == []


def test_text_weights_that_must_be_downloaded_fail_at_once_saying_how_to_work_offline(no_network):
    with pytest.raises(ModelError) as err:
        encode_texts(["a lake"], pretrained="openai", cache_dir=False)
    message = str(err.value)
    assert "huggingface.co cannot be reached" in message and "--clip-pretrained FILE" in message
    assert message.count("connect to the internet") == 1 and len(no_network) == 1


def test_offline_mode_is_left_to_huggingface_hub(monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("probed in offline mode"))
    hub.check_reachable("x", fix="y")  # returns: huggingface_hub refuses downloads itself, at once

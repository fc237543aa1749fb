"""explorer.registry: which models the app offers, from which folders, and how the picker names them."""

import os

import torch

import vae
from explorer import registry

CFG = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,))


def save(folder, name, seed=0):
    card = vae.ModelCard.new(CFG, "digits", metrics=vae.Metrics(neg_elbo=30.0, recon=27.0, kl=3.0))
    vae.save_model(vae.build_model(CFG, seed), folder / name, card)


def test_models_of_named_folders_join_the_list_once_each(tmp_path, monkeypatch):
    mine, cli_a, cli_b = tmp_path / "mine", tmp_path / "my-models", tmp_path / "more"
    save(mine, "a")
    save(cli_a, "b")
    save(cli_b, "c")
    (cli_b / "broken").mkdir()
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(mine))
    monkeypatch.setenv("VAE_MODELS_PATH", f"{cli_a}:{cli_b}:{cli_a}:")  # a repeat and an empty entry
    entries = registry.list_entries()
    ours = [(e.name, e.source) for e in entries if not e.shipped]
    assert ours == [("a", "yours"), ("b", "folder"), ("broken", "folder"), ("c", "folder")]
    by_name = {e.name: e for e in entries}
    assert by_name["b"].label == "b · z=2 · my-models/"
    assert by_name["a"].label.endswith("· yours") and by_name["broken"].card is None
    assert by_name["broken"].label == "⚠ broken (broken)" and "card.json is missing" in by_name["broken"].error


def test_shipped_models_come_first_and_a_missing_folder_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("VAE_MODELS_PATH", str(tmp_path / "nowhere"))
    entries = registry.list_entries()
    assert entries and all(e.shipped for e in entries)
    assert registry.DEFAULT_MODEL in {e.name for e in entries}


def test_weights_mtime_changes_when_a_model_is_saved_again(tmp_path):
    save(tmp_path, "m", seed=0)
    before = registry.weights_mtime(tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    os.utime(path, (before + 5, before + 5))
    assert registry.weights_mtime(tmp_path / "m") == before + 5 and registry.weights_mtime(tmp_path / "none") == 0.0
    assert torch.equal(vae.load_model(tmp_path / "m")[0].decode(torch.zeros(1, 2)),
                       vae.build_model(CFG, 0).eval().decode(torch.zeros(1, 2)))


def test_picker_labels_are_short_and_the_summary_says_the_rest():
    from explorer import registry as reg

    by_name = {e.name: e for e in reg.list_entries()}
    gauss = by_name["mnist-z2-gaussian"]
    assert gauss.label == "mnist-z2-gaussian · z=2" and len(gauss.label) <= 26  # fits the sidebar
    assert "not comparable" in gauss.summary and "−ELBO" in gauss.summary
    assert "not comparable" not in by_name["mnist-z2"].summary
    assert "reconstruction" in by_name["mnist-ae-z2"].summary and "−ELBO" not in by_name["mnist-ae-z2"].summary

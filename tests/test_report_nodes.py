"""The report nodes (loaded as ComfyUI loads the pack): Load Images, Collect Scores, Report, Pick
Best, Overlay Negative, the edit mask's own-mask input and the encoder adapters."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from comfy_editloss.encoders import weight_free_embedding
from comfy_editloss.types import Scores


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture
def folders(pack, monkeypatch, tmp_path):
    """The pack's folders module, with input/output/temp folders under tmp_path (as the runner's host sets them)."""
    module = pack.nodes.host.folders
    monkeypatch.setattr(module, "input_directory", lambda: tmp_path / "input")
    monkeypatch.setattr(module, "output_directory", lambda: tmp_path / "output")
    monkeypatch.setattr(module, "temp_directory", lambda: tmp_path / "temp")
    (tmp_path / "input").mkdir()
    return module


def _scores():
    return (
        Scores("no_edit_identity", torch.tensor([0.0, 1.4, 0.1])),
        Scores("geometry_match", torch.tensor([0.1, 1.0, 0.5])),
        Scores("clip_similarity", torch.tensor([0.9, 0.2, 0.5]), lower_is_better=False),
    )


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_load_images_reads_a_folder_in_natural_order(nodes, folders, tmp_path):
    folder = tmp_path / "input" / "generations"
    for i, name in enumerate(["gen_10.png", "gen_2.png", "gen_1.jpg"]):
        _save(folder / name, np.full((6, 8, 3), 20 * i, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    node = nodes["EditLossLoadImages"]()
    images, labels, count = node.load("generations", "*.png;*.jpg", "error")
    assert images.shape == (3, 6, 8, 3) and images.dtype == torch.float32 and count == 3
    assert labels.splitlines() == ["gen_1", "gen_2", "gen_10"]
    assert float(images[1, 0, 0, 0]) == pytest.approx(20 / 255)
    changed = nodes["EditLossLoadImages"].IS_CHANGED("generations", "*.png;*.jpg", "error")
    _save(folder / "gen_3.png", np.zeros((6, 8, 3), np.uint8))
    assert nodes["EditLossLoadImages"].IS_CHANGED("generations", "*.png;*.jpg", "error") != changed
    _save(folder / "gen_4.png", np.zeros((5, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="gen_4.png is 8x5 but gen_1.jpg is 8x6"):
        node.load("generations", "*.png;*.jpg", "error")
    assert node.load("generations", "*.png;*.jpg", "resize")[0].shape == (5, 6, 8, 3)
    with pytest.raises(ValueError, match="^folder 'missing' is not a folder inside the input directory$"):
        node.load("missing", "*.png", "error")
    # and before the run, as ComfyUI validates a prompt
    assert nodes["EditLossLoadImages"].VALIDATE_INPUTS("missing", "*.png") == "folder 'missing' is not a folder inside the input directory"
    assert nodes["EditLossLoadImages"].VALIDATE_INPUTS("generations", "*.gif") == "no image matching '*.gif' in folder 'generations'"
    assert nodes["EditLossLoadImages"].VALIDATE_INPUTS("generations", "*.png") is True
    with pytest.raises(ValueError, match="no image matching '\\*.webp'"):
        node.load("generations", "*.webp", "error")
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        node.load("generations", "*.png", "resize")


def test_load_images_stays_inside_comfyuis_folders(nodes, folders, tmp_path, monkeypatch):
    """A prompt can come from anyone who reaches the server: absolute paths, '..' and symlinks that
    lead out of the input folder are refused with one message that tells nothing about what is
    there, while ComfyUI's annotated names reach the output and temp folders."""
    outside = tmp_path / "private"
    _save(outside / "secret_photo.png", np.zeros((4, 4, 3), np.uint8))
    (outside / "passwords.txt").write_text("not an image")
    inside = tmp_path / "input" / "generations"
    _save(inside / "gen_1.png", np.full((4, 4, 3), 10, np.uint8))
    (tmp_path / "input" / "escape").symlink_to(outside, target_is_directory=True)
    (tmp_path / "input" / "notes.txt").write_text("a file, not a folder")
    (tmp_path / "input" / "loop_a").symlink_to(tmp_path / "input" / "loop_b")
    (tmp_path / "input" / "loop_b").symlink_to(tmp_path / "input" / "loop_a")
    load_images = nodes["EditLossLoadImages"]
    refused = [str(outside), "../private", "generations/../../private", "escape", "missing", "notes.txt", "~", "../private [input]", "loop_a"]
    for folder in refused:
        expected = f"folder {folder!r} is not a folder inside the input directory"
        assert load_images.VALIDATE_INPUTS(folder, "*") == expected, folder
        with pytest.raises(ValueError) as caught:
            load_images().load(folder, "*", "error")
        assert str(caught.value) == expected, folder
        assert load_images.IS_CHANGED(folder, "*", "error") != load_images.IS_CHANGED(folder, "*", "error")  # NaN: re-run to report it
    # a file inside a good folder that links out is refused too, naming only the link
    (inside / "gen_2.png").symlink_to(outside / "secret_photo.png")
    assert load_images.VALIDATE_INPUTS("generations", "*.png") == "gen_2.png in folder 'generations' links to a file outside the input directory"
    (inside / "gen_2.png").unlink()
    # ComfyUI's annotated names: 'name [input]', 'name [output]', 'name [temp]'
    _save(tmp_path / "output" / "runs" / "a.png", np.full((4, 4, 3), 30, np.uint8))
    _save(tmp_path / "temp" / "previews" / "b.png", np.full((4, 4, 3), 60, np.uint8))
    for folder, value in (("generations [input]", 10), ("runs [output]", 30), ("previews [temp]", 60)):
        images, _, count = load_images().load(folder, "*.png", "error")
        assert count == 1 and float(images[0, 0, 0, 0]) == pytest.approx(value / 255), folder
    assert load_images.VALIDATE_INPUTS("../input/generations [output]", "*.png") == (
        "folder '../input/generations [output]' is not a folder inside the output directory")
    # '..' that stays inside is fine, and so is an input folder that is itself a symlink
    assert load_images().load("generations/../generations", "*.png", "error")[2] == 1
    linked_input = tmp_path / "linked_input"
    linked_input.symlink_to(tmp_path / "input", target_is_directory=True)
    monkeypatch.setattr(folders, "input_directory", lambda: linked_input)
    assert load_images().load("generations", "*.png", "error")[2] == 1
    with pytest.raises(TypeError, match="^folder must be text naming a folder inside the input directory, got int 3$"):
        load_images().load(3, "*.png", "error")
    with pytest.raises(ValueError, match="^folder must name a folder inside the input directory \\(e.g. generations\\), got ' '$"):
        load_images().load(" ", "*.png", "error")


def test_report_writes_numbered_json_and_csv_and_shows_the_table(nodes, folders, tmp_path):
    node = nodes["EditLossReport"]()
    identity, geometry, similarity = _scores()
    generations = torch.rand(3, 24, 32, 3)
    out = node.report("editloss/scores", "no_edit_identity=1, geometry_match=0.5", "none", True, True, generations, "correct\nno edit\ndistorted",
                      scores_1=identity, scores_3=geometry, scores_5=similarity)
    table_image, chart, text, table, total = out["result"]
    assert table_image.shape[0] == 1 and table_image.shape[-1] == 3 and chart.shape[0] == 1
    assert table.names == ["no_edit_identity", "geometry_match", "clip_similarity"]
    assert total.values.tolist() == pytest.approx([0.05, 1.9, 0.35])
    assert text.splitlines()[1].split()[:2] == ["1", "correct"]
    assert out["ui"]["text"] == [text]
    shown = [tmp_path / "temp" / e["subfolder"] / e["filename"] for e in out["ui"]["images"]]
    assert len(shown) == 2 and all(p.is_file() for p in shown)
    data = json.loads((tmp_path / "output" / "editloss" / "scores_00001_.json").read_text())
    assert data["ranking"] == ["correct", "distorted", "no edit"] and data["scores"]["clip_similarity"]["best"] == "correct"
    rows = list(csv.DictReader((tmp_path / "output" / "editloss" / "scores_00001_.csv").open()))
    assert [r["generation"] for r in rows] == ["correct", "distorted", "no edit"]
    node.report("editloss/scores", "", "none", True, scores_1=identity)
    assert sorted(p.name for p in (tmp_path / "output" / "editloss").iterdir()) == [
        "scores_00001_.csv", "scores_00001_.json", "scores_00002_.csv", "scores_00002_.json"]
    quiet = node.report("editloss/scores", "", "none", False, False, scores_1=identity)
    assert len(list((tmp_path / "output" / "editloss").iterdir())) == 4
    assert quiet["ui"]["images"] == [] and quiet["result"][0].shape == (1, 1, 1, 3) and quiet["result"][2].startswith("rank")


def test_collect_scores_chains_into_report_and_pick_best(nodes, folders):
    identity, geometry, similarity = _scores()
    (first,) = nodes["EditLossCollectScores"]().collect(scores_1=identity, scores_2=geometry)
    (second,) = nodes["EditLossCollectScores"]().collect(scores_1=similarity, table=first)
    assert second.names == ["clip_similarity", "no_edit_identity", "geometry_match"]
    generations = torch.stack([torch.full((4, 4, 3), i / 2) for i in range(3)])
    best, index, ranking, total = nodes["EditLossPickBest"]().pick(generations, "no_edit_identity=1, geometry_match=0.5", "none", 2, table=second)
    assert index == 0 and torch.equal(best, generations[[0, 2]])
    assert ranking.splitlines()[0] == "1. generation 1: 0.05"
    out = nodes["EditLossReport"]().report("s", "", "rank", False, False, scores_2=geometry, table=first)
    assert out["result"][3].names == ["geometry_match", "no_edit_identity", "geometry_match_2"]


def test_report_and_pick_best_errors_name_the_input(nodes, folders):
    identity, _, _ = _scores()
    report, pick = nodes["EditLossReport"](), nodes["EditLossPickBest"]()
    with pytest.raises(ValueError, match="no scores connected"):
        report.report("s", "", "none", False, False)
    with pytest.raises(ValueError, match="generations has 2 image\\(s\\) but the scores have 3 value\\(s\\)"):
        report.report("s", "", "none", False, False, torch.rand(2, 4, 4, 3), scores_1=identity)
    with pytest.raises(ValueError, match="labels must name every generation: 3 generation\\(s\\), got 2"):
        report.report("s", "", "none", False, False, labels="a\nb", scores_1=identity)
    with pytest.raises(ValueError, match="weights name unknown score\\(s\\) 'geometry'"):
        pick.pick(torch.rand(3, 4, 4, 3), "geometry=1", "none", 1, scores_1=identity)
    with pytest.raises(ValueError, match="count is 4 but there are only 3 generation"):
        pick.pick(torch.rand(3, 4, 4, 3), "", "none", 4, scores_1=identity)
    with pytest.raises(ValueError, match=r"^generations must be an IMAGE \[B, H, W, C\] with C = 1, 3 or 4, got a torch.float32 tensor of shape \(3, 4, 4\)"):
        pick.pick(torch.rand(3, 4, 4), "", "none", 1, scores_1=identity)
    with pytest.raises(TypeError, match="table must be an EDITLOSS_SCORE_TABLE"):
        report.report("s", "", "none", False, False, table=identity)


def test_overlay_node_and_the_edit_masks_own_mask(nodes):
    before = torch.zeros(1, 16, 16, 3)
    after = before.clone()
    after[:, 4:12, 4:12] = 1.0
    edit = torch.zeros(1, 16, 16)
    edit[:, 2:14, 2:14] = 1
    (overlay,) = nodes["EditLossOverlayNegative"]().build(before, after, edit, "blend", 0.25, 0.1)
    assert torch.allclose(overlay, before + 0.25 * edit[..., None] * (after - before))
    mask_node = nodes["EditLossEditMask"]()
    mine = torch.zeros(1, 16, 16)
    mine[:, :3] = 1
    assert torch.equal(mask_node.derive(before, after, 0.08, 1, 6, mine)[0], mine)
    assert mask_node.derive(before, after, 0.08, 1, 0)[0][0, 8, 8] == 1
    with pytest.raises(ValueError, match=r"^mask is 8x8 px but the images are 16x16 px: scale the mask \(or the images\) to one size first$"):
        mask_node.derive(before, after, 0.08, 1, 6, torch.zeros(1, 8, 8))


def test_the_edit_masks_own_mask_is_checked_not_clamped_or_broadcast(nodes):
    mask_node = nodes["EditLossEditMask"]()
    before, after = torch.zeros(3, 16, 16, 3), torch.ones(1, 16, 16, 3)  # batch 1 on one side stands for every sample
    soft = torch.linspace(0, 1, 16).expand(16, 16)
    assert torch.equal(mask_node.derive(before, after, 0.08, 1, 6, soft)[0], soft[None])
    for batch in (1, 3):
        assert mask_node.derive(before, after, 0.08, 1, 6, soft.expand(batch, 16, 16))[0].shape == (batch, 16, 16)
    for low, high in ((0.0, 1.5), (-0.25, 1.0)):
        with pytest.raises(ValueError, match=rf"^mask must lie in \[0, 1\], got values from {low:g} to {high:g}$"):
            mask_node.derive(before, after, 0.08, 1, 6, torch.linspace(low, high, 16).expand(1, 16, 16))
    with pytest.raises(ValueError, match=r"^mask must be finite and in \[0, 1\], got 256 NaN/Inf value\(s\) in sample\(s\) \[0\]$"):
        mask_node.derive(before, after, 0.08, 1, 6, torch.full((1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match=r"^batches differ \(before 3, after 1, mask 2\): give each input batch 1 \(used for every sample\) or the same batch$"):
        mask_node.derive(before, after, 0.08, 1, 6, soft.expand(2, 16, 16))
    with pytest.raises(TypeError, match=r"^mask must be a floating-point tensor"):
        mask_node.derive(before, after, 0.08, 1, 6, torch.ones(1, 16, 16, dtype=torch.bool))


class _FakeClipVision:
    """Stands in for ComfyUI's ClipVisionModel: encode_image -> an output with the two fields."""

    def __init__(self):
        self.calls = []

    def encode_image(self, image, crop=True):
        self.calls.append((tuple(image.shape), crop))
        batch = image.shape[0]
        hidden = torch.arange(batch * 5 * 4, dtype=torch.float32).view(batch, 5, 4)  # 1 class token + 2x2 patches
        return {"image_embeds": torch.ones(batch, 3), "last_hidden_state": hidden}


def test_encoder_adapters_feed_editloss_encode(nodes):
    images = torch.rand(3, 32, 48, 3)
    (weight_free,) = nodes["EditLossWeightFreeEncoder"]().load("gradient", 16)
    global_embedding, patches = nodes["EditLossEncode"]().encode(weight_free, images, 2)
    assert torch.allclose(patches.tensor, weight_free_embedding(images, "gradient", 16))
    direct = nodes["EditLossWeightFreeEncode"]().encode(images, "gradient", 16)
    assert torch.allclose(global_embedding.tensor, direct[0].tensor) and patches.encoder == direct[1].encoder
    fake = _FakeClipVision()
    (adapter,) = nodes["EditLossCLIPVisionEncoder"]().load(fake, "none")
    global_embedding, patches = nodes["EditLossEncode"]().encode(adapter, images, 2)
    assert fake.calls == [((2, 32, 48, 3), False), ((1, 32, 48, 3), False)]
    assert patches.tensor.shape == (3, 2, 2, 4) and torch.allclose(global_embedding.tensor.norm(dim=-1), torch.ones(3))
    with pytest.raises(TypeError, match="clip_vision must be a CLIP_VISION model"):
        nodes["EditLossCLIPVisionEncoder"]().load(object(), "center")

"""The ComfyUI nodes: their declared interface, and what they compute (loaded as ComfyUI loads them)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from comfy_editloss import losses as L

CORE_CATALOGUE = Path(__file__).resolve().parents[1] / "comfy_editloss" / "graph" / "data" / "object_info.json"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def Embedding(pack_lib):
    return pack_lib.Embedding


def _inputs(cls):
    spec = cls.INPUT_TYPES()
    return spec, {**spec.get("required", {}), **spec.get("optional", {})}


# --------------------------------------------------------------------------------------------
# Interface
# --------------------------------------------------------------------------------------------


def test_every_node_has_a_prefixed_id_a_display_name_and_no_core_clash(pack):
    core = set(json.loads(CORE_CATALOGUE.read_text()))
    assert len(core) > 400
    ids = set(pack.NODE_CLASS_MAPPINGS)
    assert ids == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    for node_id in ids:
        assert node_id.startswith("EditLoss"), node_id
        assert pack.NODE_DISPLAY_NAME_MAPPINGS[node_id].startswith("EditLoss ")
    assert not ids & core


def test_node_interfaces_are_complete_and_consistent(nodes):
    for node_id, cls in nodes.items():
        spec, inputs = _inputs(cls)
        assert set(spec) <= {"required", "optional", "hidden"} and "required" in spec, node_id
        names = list(spec["required"]) + list(spec.get("optional", {}))
        assert len(names) == len(set(names)), f"{node_id}: duplicate input names"
        assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 40, node_id
        assert cls.CATEGORY.startswith("editloss/"), node_id
        n_out = len(cls.RETURN_TYPES)
        assert len(cls.RETURN_NAMES) == n_out and len(cls.OUTPUT_TOOLTIPS) == n_out, node_id
        assert len(getattr(cls, "OUTPUT_IS_LIST", (False,) * n_out)) == n_out, node_id
        function = getattr(cls, cls.FUNCTION)
        params = inspect.signature(function).parameters
        keywords = [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
        for name, (kind, *options) in inputs.items():
            options = options[0] if options else {}
            assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
            # numbered optional sockets (scores_1..scores_8) may arrive through **kwargs, which ComfyUI omits when unlinked
            assert name in params or (keywords and name in spec.get("optional", {})), f"{node_id}.{cls.FUNCTION} does not accept {name}"
            if name in spec.get("optional", {}) and name in params:
                assert params[name].default is not inspect.Parameter.empty, f"{node_id}: optional input {name} needs a default"
            if isinstance(kind, list):  # a file list may be empty (no file in the input folder)
                assert not kind or options.get("default", kind[0]) in kind, f"{node_id}.{name}"
            elif kind in ("INT", "FLOAT"):
                assert options["min"] <= options["default"] <= options["max"], f"{node_id}.{name}"
            elif kind not in WIDGET_TYPES:
                assert kind.isupper(), f"{node_id}.{name}: socket type {kind!r}"
        extra = [p for p, param in params.items() if p not in inputs and p != "self" and param.kind is not inspect.Parameter.VAR_KEYWORD]
        assert not extra, f"{node_id}.{cls.FUNCTION} has parameters that are not inputs: {extra}"


def test_loss_nodes_return_a_float_and_scores(nodes):
    for node_id, cls in nodes.items():
        if cls.CATEGORY.startswith(("editloss/task losses", "editloss/generic losses", "editloss/texture losses")) and node_id != "EditLossTexturePeriod":
            assert cls.RETURN_TYPES == ("FLOAT", "EDITLOSS_SCORES"), node_id


def test_defaults_follow_the_seeds(nodes):
    required = lambda node: nodes[node].INPUT_TYPES()["required"]  # noqa: E731
    assert required("EditLossNoEditIdentity")["margin"][1]["default"] == 0.2
    assert required("EditLossNoEditIdentity")["dist"][1]["default"] == "cos"
    assert required("EditLossGeometryMatch")["kind"][1]["default"] == "l2"
    assert required("EditLossContrastivePair")["margin"][1]["default"] == 1.0
    assert required("EditLossContrastivePair")["dist"][1]["default"] == "l2"
    assert required("EditLossInfoNCE")["temperature"][1]["default"] == 0.07


# --------------------------------------------------------------------------------------------
# Behaviour
# --------------------------------------------------------------------------------------------


def emb(Embedding, shape, seed):
    return Embedding(torch.randn(shape, generator=torch.Generator().manual_seed(seed)), encoder="test")


def test_task_nodes_broadcast_batch_one_references_and_match_the_library(nodes, Embedding):
    pred = emb(Embedding, (3, 4, 5, 8), 1)
    gt, src, overlay = (emb(Embedding, (1, 4, 5, 8), s) for s in (2, 3, 4))
    with torch.inference_mode():
        loss, scores = nodes["EditLossNoEditIdentity"]().compute(pred, gt, src, 0.3, "l2", "max")
    expected = L.loss_no_edit_identity(pred.tensor, gt.tensor.expand(3, -1, -1, -1), src.tensor.expand(3, -1, -1, -1), margin=0.3, dist="l2", agg="max", reduction="none")
    assert isinstance(loss, float) and loss == pytest.approx(float(expected.mean()))
    assert scores.name == "no_edit_identity" and scores.lower_is_better
    assert scores.values.dtype == torch.float32 and scores.values.device.type == "cpu"
    torch.testing.assert_close(scores.values, expected)
    assert scores.details == {"margin": 0.3, "dist": "l2", "agg": "max"}

    _, geometry = nodes["EditLossGeometryMatch"]().compute(pred, gt, "l1", "mean")
    torch.testing.assert_close(geometry.values, L.loss_geometry_match(pred.tensor, gt.tensor.expand(3, -1, -1, -1), "l1", reduction="none"))
    _, ov = nodes["EditLossOverlayAvoidance"]().compute(pred, gt, overlay, 0.2, "cos", "mean")
    torch.testing.assert_close(ov.values, L.loss_overlay_avoidance(pred.tensor, gt.tensor.expand(3, -1, -1, -1), overlay.tensor.expand(3, -1, -1, -1), reduction="none"))


def test_mask_is_resized_to_the_grid_by_area(nodes, Embedding):
    pred, gt = emb(Embedding, (2, 4, 4, 6), 1), emb(Embedding, (2, 4, 4, 6), 2)
    mask = torch.zeros(1, 64, 64)
    mask[:, :32, :16] = 1.0  # the top-left quarter of patches fully, nothing else
    _, scores = nodes["EditLossGeometryMatch"]().compute(pred, gt, "l2", "mean", mask=mask)
    per_patch = ((pred.tensor - gt.tensor) ** 2).sum(-1)
    torch.testing.assert_close(scores.values, per_patch[:, :2, :1].mean(dim=(1, 2)))
    partial = torch.zeros(2, 8, 8)
    partial[:, 0, 0] = 1.0  # a quarter of the first patch
    _, scores = nodes["EditLossGeometryMatch"]().compute(pred, gt, "l2", "mean", mask=partial)
    torch.testing.assert_close(scores.values, per_patch[:, 0, 0])
    pooled = F.adaptive_avg_pool2d(partial[:, None], (4, 4))[:, 0]
    assert pooled[0, 0, 0] == 0.25


def test_node_errors_name_the_input(nodes, Embedding):
    pred, gt = emb(Embedding, (3, 4, 4, 6), 1), emb(Embedding, (2, 4, 4, 6), 2)
    node = nodes["EditLossGeometryMatch"]()
    with pytest.raises(ValueError, match=r"^z_gt has batch 2 but z_pred has batch 3: connect one reference \(batch 1, used for every generation\) or one per generation$"):
        node.compute(pred, gt, "l2", "mean")
    with pytest.raises(ValueError, match=r"^z_gt has feature shape \(4, 4, 7\) but z_pred has \(4, 4, 6\)"):
        node.compute(pred, emb(Embedding, (1, 4, 4, 7), 2), "l2", "mean")
    with pytest.raises(TypeError, match=r"^z_gt must be an EDITLOSS_EMBEDDING .*got a torch\.float32 tensor"):
        node.compute(pred, torch.zeros(3, 6), "l2", "mean")
    glob = emb(Embedding, (3, 6), 3)
    with pytest.raises(ValueError, match=r"^mask needs a grid embedding \[B,h,w,D\] to map onto, but the embedding has shape \(3, 6\)"):
        node.compute(glob, glob, "l2", "mean", mask=torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match=r"^mask has batch 2 but the embedding has batch 3"):
        node.compute(pred, pred, "l2", "mean", mask=torch.ones(2, 8, 8))
    with pytest.raises(ValueError, match=r"^mask selects no position for sample\(s\) \[0, 1, 2\]"):
        node.compute(pred, pred, "l2", "mean", mask=torch.zeros(1, 8, 8))


def test_pair_distance_and_margin_ranking_nodes_chain(nodes, Embedding):
    pred, gt, src = emb(Embedding, (4, 8), 1), emb(Embedding, (4, 8), 2), emb(Embedding, (1, 8), 3)
    _, d_pos = nodes["EditLossPairDistance"]().compute(pred, gt, "cos", "mean")
    _, d_neg = nodes["EditLossPairDistance"]().compute(pred, src, "cos", "mean")
    loss, ranking = nodes["EditLossMarginRanking"]().compute(d_pos, d_neg, 0.25)
    expected = L.margin_ranking_on_distances(L.pair_distance(pred.tensor, gt.tensor), L.pair_distance(pred.tensor, src.tensor.expand(4, -1)), 0.25, reduction="none")
    torch.testing.assert_close(ranking.values, expected)
    assert d_pos.name == "distance_cos"
    with pytest.raises(TypeError, match=r"^d_neg must be EDITLOSS_SCORES"):
        nodes["EditLossMarginRanking"]().compute(d_pos, 0.5, 0.25)


def test_contrastive_node_labels(nodes, Embedding):
    z1, z2 = emb(Embedding, (3, 8), 1), emb(Embedding, (3, 8), 2)
    node = nodes["EditLossContrastivePair"]()
    _, every = node.compute(z1, z2, "0", 1.0, "l2", "mean")
    _, each = node.compute(z1, z2, "1, 0 ,1", 1.0, "l2", "mean")
    torch.testing.assert_close(every.values, L.contrastive_pair_loss(z1.tensor, z2.tensor, torch.zeros(3), reduction="none"))
    torch.testing.assert_close(each.values, L.contrastive_pair_loss(z1.tensor, z2.tensor, torch.tensor([1.0, 0.0, 1.0]), reduction="none"))
    with pytest.raises(ValueError, match=r"^labels must hold 1 value \(for every pair\) or 3 \(one per pair\), got 2: '1,0'$"):
        node.compute(z1, z2, "1,0", 1.0, "l2", "mean")
    with pytest.raises(ValueError, match=r"^labels must be a list of numbers such as '0.9, 0.1, 0.75', got 'yes' in 'yes'$"):
        node.compute(z1, z2, "yes", 1.0, "l2", "mean")
    with pytest.raises(ValueError, match=r"^y must be <= 1, got max 2$"):
        node.compute(z1, z2, "2", 1.0, "l2", "mean")


def test_multi_negative_and_info_nce_nodes_take_any_connected_negatives(nodes, Embedding):
    pred, gt = emb(Embedding, (2, 3, 3, 4), 1), emb(Embedding, (2, 3, 3, 4), 2)
    n1, n3 = emb(Embedding, (1, 3, 3, 4), 3), emb(Embedding, (2, 3, 3, 4), 4)
    _, scores = nodes["EditLossMultiNegativeRanking"]().compute(pred, gt, n1, 0.2, "cos", "mean", "max", 0.05, negative_3=n3)
    expected = L.multi_negative_ranking_loss(pred.tensor, gt.tensor, [n1.tensor.expand(2, -1, -1, -1), n3.tensor], neg_agg="max", reduction="none")
    torch.testing.assert_close(scores.values, expected)
    assert scores.details["negatives"] == 2

    info = nodes["EditLossInfoNCE"]()
    _, explicit = info.compute(pred, gt, 0.1, True, False, "mean", negative_2=n1)
    torch.testing.assert_close(explicit.values, L.info_nce_loss(pred.tensor, gt.tensor, [n1.tensor.expand(2, -1, -1, -1)], temperature=0.1, reduction="none"))
    _, in_batch = info.compute(pred, gt, 0.1, True, True, "mean")
    torch.testing.assert_close(in_batch.values, L.info_nce_loss(pred.tensor, gt.tensor, temperature=0.1, symmetric=True, reduction="none"))
    with pytest.raises(ValueError, match=r"^positive has batch 1 but anchor has 2: with no negative connected"):
        info.compute(pred, emb(Embedding, (1, 3, 3, 4), 5), 0.1, True, False, "mean")


def test_latent_to_embedding(nodes):
    samples = torch.randn(2, 16, 6, 5)
    (embedding,) = nodes["EditLossLatentToEmbedding"]().convert({"samples": samples, "batch_index": [0, 1]})
    assert embedding.tensor.shape == (2, 6, 5, 16) and embedding.grid == (6, 5)
    assert embedding.encoder == "vae_latent" and not embedding.normalized
    assert torch.equal(embedding.tensor[1, 4, 3], samples[1, :, 4, 3])
    with pytest.raises(ValueError, match=r"^latent\['samples'\] must have shape \[B,C,h,w\] \(an image latent\), got \(1, 16, 3, 6, 5\)"):
        nodes["EditLossLatentToEmbedding"]().convert({"samples": torch.zeros(1, 16, 3, 6, 5)})
    with pytest.raises(TypeError, match=r"^latent must be a LATENT"):
        nodes["EditLossLatentToEmbedding"]().convert(samples)


def test_latent_embeddings_score_a_kontext_style_batch(nodes):
    """End to end inside the pack: three latents -> embeddings -> the geometry and identity losses."""
    g = torch.Generator().manual_seed(0)
    before = torch.randn(1, 16, 8, 8, generator=g)
    after = before.clone()
    after[:, :, 2:6, 2:6] = torch.randn(1, 16, 4, 4, generator=g)  # the edited object
    generations = torch.cat([after, before, 0.5 * (after + before)])  # correct, no edit, half-way
    to_emb = nodes["EditLossLatentToEmbedding"]()
    (z_pred,), (z_gt,), (z_src,) = (to_emb.convert({"samples": x}) for x in (generations, after, before))
    region = torch.zeros(1, 64, 64)
    region[:, 16:48, 16:48] = 1.0
    _, identity = nodes["EditLossNoEditIdentity"]().compute(z_pred, z_gt, z_src, 0.2, "cos", "mean", mask=region)
    _, geometry = nodes["EditLossGeometryMatch"]().compute(z_pred, z_gt, "l2", "mean", mask=region)
    assert identity.values[0] == 0.0 and identity.values[1] > identity.values[2] > 0
    assert geometry.values[0] == 0.0 and geometry.values[1] > geometry.values[2] > 0


def test_nodes_do_not_modify_their_inputs(nodes, Embedding):
    pred, gt, src = emb(Embedding, (2, 3, 3, 4), 1), emb(Embedding, (1, 3, 3, 4), 2), emb(Embedding, (1, 3, 3, 4), 3)
    mask = torch.rand(1, 12, 12)
    copies = [x.clone() for x in (pred.tensor, gt.tensor, src.tensor, mask)]
    with torch.inference_mode():
        nodes["EditLossNoEditIdentity"]().compute(pred, gt, src, 0.2, "cos", "mean", mask=mask)
        nodes["EditLossInfoNCE"]().compute(pred, gt, 0.07, True, True, "max", negative_1=src, mask=mask)
    for x, y in zip((pred.tensor, gt.tensor, src.tensor, mask), copies):
        assert torch.equal(x, y)


def test_scores_and_embedding_types(pack_lib):
    scores = pack_lib.Scores("geometry_match", torch.tensor([0.5, 1.25], dtype=torch.float64, requires_grad=True))
    assert scores.values.dtype == torch.float32 and not scores.values.requires_grad
    assert str(scores) == "geometry_match (lower is better): [0.5, 1.25]"
    assert len(scores) == 2 and scores.tolist() == [0.5, 1.25]
    with pytest.raises(ValueError, match=r"^Scores\.values must have shape \[B\], got \(2, 1\)$"):
        pack_lib.Scores("x", torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"^Embedding\.tensor must have shape \[B, D\]"):
        pack_lib.Embedding(torch.zeros(4))
    assert "shape=(2, 3, 4, 5)" in repr(pack_lib.Embedding(torch.zeros(2, 3, 4, 5), encoder="dinov2"))


def test_types_compare_by_identity(pack_lib):
    a = pack_lib.Embedding(torch.zeros(2, 3))
    b = pack_lib.Embedding(torch.zeros(2, 3))
    assert a == a and a != b  # no "ambiguous truth value" error from comparing tensors

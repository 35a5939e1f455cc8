"""Generate the shipped workflows from their description here: ``python3 workflows/build.py``.

The JSON files beside this script are what users drag into ComfyUI; tests check they equal what
this script writes, convert and validate against ComfyUI's node catalogue, and run headless.
"""

from __future__ import annotations

import json
import sys
from typing import NamedTuple
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from comfy_editloss.graph.authoring import WorkflowBuilder  # noqa: E402
from comfy_editloss.graph.runtime import Environment  # noqa: E402

class _Output(NamedTuple):
    """One output of a node: where a link starts."""

    node: object
    name: str


def _report(wf: WorkflowBuilder, generations: _Output, labels: _Output | None, scores: list, prefix: str, weights: str, pos) -> None:
    report = wf.add("EditLossReport", {"filename_prefix": prefix, "weights": weights, "normalize": "none", "save_files": True, "pictures": True}, pos=pos, size=(640, 640), title="Report")
    wf.connect(generations.node, generations.name, report, "generations")
    if labels is not None:
        wf.connect(labels.node, labels.name, report, "labels")
    for slot, node in enumerate(scores, 1):
        wf.connect(node, "scores", report, f"scores_{slot}")


WEIGHT_FREE_NOTE = """## Score one Kontext edit with the weight-free encoder

No model to download: the encoder sees **shape** (histograms of edge directions per patch) and
**colour**.

1. Put the **source** (`before.png`), the **intended result** (`after.png`) and your
   **generations** (a folder `generations/`, any number of one size) in ComfyUI's input folder.
2. Queue. The text boxes show:
   - **no-edit identity**: 0 when the generation is closer to *after* than to *before* by the
     margin; high when nothing was changed;
   - **geometry match**: the patch-feature distance to *after*; high when the new object is
     distorted or the old one still shows.
3. The **heat map** shows, per patch, the distance of the generation to the target, and to the
   source: the edited region should be dark in the first and bright in the second.

Lower is better for both scores. Both look only at the **edit region**, derived from where before
and after differ; connect your own MASK to the loss nodes instead if you have one.
"""


def weight_free_edit_heatmaps(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(WEIGHT_FREE_NOTE, pos=(-460, 0), size=(420, 520))
    images = {}
    for row, (name, title) in enumerate((("before.png", "Source (before)"), ("after.png", "Intended result (after)"))):
        images[name] = _Output(wf.add("LoadImage", {"image": name}, pos=(0, row * 360), size=(300, 320), title=title), "IMAGE")
    loaded = wf.add("EditLossLoadImages", {"folder": "generations", "pattern": "*.png;*.jpg;*.jpeg;*.webp", "size_mismatch": "error"}, pos=(0, 720), size=(300, 150), title="Generations (a folder)")
    images["generation.png"] = _Output(loaded, "images")
    encoded = {}
    for row, name in enumerate(images):
        encoded[name] = wf.add("EditLossWeightFreeEncode", {"kind": "gradient+pixel", "patch_size": 16}, pos=(360, row * 360 + 40), size=(320, 110))
        wf.connect(images[name].node, images[name].name, encoded[name], "image")
    mask = wf.add("EditLossEditMask", {"threshold": 0.08, "clean": 1, "grow": 6}, pos=(360, 1120), size=(320, 150), title="Edit region (from before/after)")
    wf.connect(images["before.png"].node, "IMAGE", mask, "before")
    wf.connect(images["after.png"].node, "IMAGE", mask, "after")
    identity = wf.add("EditLossNoEditIdentity", {"margin": 0.2, "dist": "cos", "agg": "mean"}, pos=(760, 0), size=(320, 180))
    wf.connect(encoded["generation.png"], "patches", identity, "z_pred")
    wf.connect(encoded["after.png"], "patches", identity, "z_gt")
    wf.connect(encoded["before.png"], "patches", identity, "z_src")
    wf.connect(mask, "edit_mask", identity, "mask")
    geometry = wf.add("EditLossGeometryMatch", {"kind": "l2", "agg": "mean"}, pos=(760, 240), size=(320, 130))
    wf.connect(encoded["generation.png"], "patches", geometry, "z_pred")
    wf.connect(encoded["after.png"], "patches", geometry, "z_gt")
    wf.connect(mask, "edit_mask", geometry, "mask")
    for row, (source, output, title) in enumerate(((identity, "scores", "No-edit identity (per generation)"), (geometry, "scores", "Geometry match (per generation)"))):
        show = wf.add("PreviewAny", pos=(1140, row * 200), size=(360, 160), title=title)
        wf.connect(source, output, show, "source")
    heatmap = wf.add("EditLossPatchHeatmap", {"dist": "cos"}, pos=(760, 440), size=(320, 160))
    wf.connect(loaded, "images", heatmap, "image")
    wf.connect(encoded["generation.png"], "patches", heatmap, "z_pred")
    wf.connect(encoded["after.png"], "patches", heatmap, "z_gt")
    wf.connect(encoded["before.png"], "patches", heatmap, "z_src")
    preview = wf.add("PreviewImage", pos=(1140, 440), size=(640, 360), title="Where the generation differs")
    wf.connect(heatmap, "heatmaps", preview, "images")
    return wf.to_json()


TEXTURE_NOTE = """## Is the generated material at the right scale?

For material replacement (tiles, bricks, planks): these losses look only at **how often the pattern
repeats**, not at its colour or where it starts.

1. In ComfyUI's input folder: `after.png`, the **intended result** (the material at the intended
   scale), `generations/`, your **generations** (same size, any number), and `mask.png`, the
   **material region** (white = material; red channel). No mask? Delete the mask node: the whole
   image is measured.
2. Queue. The text boxes show, per generation (lower is better, 0 = same scale):
   - **spectral period**: squared log ratio of the dominant frequencies + band mismatch;
   - **log-polar align**: spectra compared in log-polar coordinates;
   - **ACF period**: squared log ratio of the distances between repeats;
   - **scale consistency**: generation vs target here; feed two generations of the same prompt
     to check that a LoRA keeps one scale across seeds;
   - **period**: the measured period (px) and orientation of each image.
3. The **pictures**: the spectra (a peak left of the target's: pattern too coarse; right: too
   fine), the autocorrelation profiles with their first peaks, and the log-polar maps.
4. The **report**: every generation with its four scores, best first by their sum, and the files
   `editloss/texture_scores_NNNNN_.json/.csv` in the output folder.
"""


def texture_scale(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(TEXTURE_NOTE, pos=(-480, 0), size=(440, 620))
    target = wf.add("LoadImage", {"image": "after.png"}, pos=(0, 0), size=(300, 320), title="Intended result (material at the right scale)")
    loaded = wf.add("EditLossLoadImages", {"folder": "generations", "pattern": "*.png;*.jpg;*.jpeg;*.webp", "size_mismatch": "error"}, pos=(0, 360), size=(300, 150), title="Generations (a folder)")
    generated = _Output(loaded, "images")
    mask = wf.add("LoadImageMask", {"image": "mask.png", "channel": "red"}, pos=(0, 720), size=(300, 320), title="Material mask (white = material)")
    peak = {"r_bins": 256, "tau": 0.06, "min_bin": 2, "max_bin": 0}
    acf = {"r_bins": 256, "tau": 0.08, "min_rel": 0.03, "max_rel": 0.6}
    log_polar = {"out_r": 128, "out_t": 180, "r_min": 0.01}
    losses = [
        ("EditLossSpectralPeriod", {**peak, "band_sigma": 0.15, "w_peak": 1.0, "w_band": 1.0, "center_period_px": 0.0}, "Spectral period", ("generated", "target")),
        ("EditLossLogPolarAlign", {**log_polar, "w": 1.0}, "Log-polar align", ("generated", "target")),
        ("EditLossACFPeriod", {**acf, "w": 1.0}, "ACF period", ("generated", "target")),
        ("EditLossScaleConsistency", {**peak, "w": 1.0}, "Scale consistency (generation vs target)", ("generated_1", "generated_2")),
    ]
    scores = []
    for row, (node_type, widgets, title, (first, second)) in enumerate(losses):
        node = wf.add(node_type, widgets, pos=(380, row * 300), size=(340, 260), title=title)
        wf.connect(generated.node, generated.name, node, first)
        scores.append(node)
        wf.connect(target, "IMAGE", node, second)
        wf.connect(mask, "MASK", node, "mask")
        show = wf.add("PreviewAny", pos=(780, row * 300), size=(360, 140), title=f"{title} (per generation)")
        wf.connect(node, "scores", show, "source")
    for row, (source, title) in enumerate(((_Output(target, "IMAGE"), "Period of the target"), (generated, "Period of the generation"))):
        period = wf.add("EditLossTexturePeriod", peak, pos=(380, 1200 + row * 240), size=(340, 200), title=title)
        wf.connect(source.node, source.name, period, "image")
        wf.connect(mask, "MASK", period, "mask")
        show = wf.add("PreviewAny", pos=(780, 1200 + row * 240), size=(360, 140), title=title)
        wf.connect(period, "report", show, "source")
    plots = [
        ("EditLossSpectrumPlot", {**peak, "band_sigma": 0.15, "center_period_px": 0.0}, "spectra", "Radially averaged spectra", (640, 400)),
        ("EditLossACFPlot", acf, "acf", "Autocorrelation profiles", (640, 400)),
        ("EditLossLogPolarPlot", log_polar, "log_polar", "Log-polar spectra", (980, 340)),
    ]
    y = 0
    for node_type, widgets, output, title, size in plots:
        node = wf.add(node_type, widgets, pos=(1200, y), size=(340, 240), title=title)
        wf.connect(generated.node, generated.name, node, "generated")
        wf.connect(target, "IMAGE", node, "target")
        wf.connect(mask, "MASK", node, "mask")
        preview = wf.add("PreviewImage", pos=(1580, y), size=size, title=title)
        wf.connect(node, output, preview, "images")
        y += size[1] + 60
    _report(wf, generated, _Output(loaded, "labels"), scores, "editloss/texture_scores", "", pos=(1200, y))
    return wf.to_json()


DEPTH_NOTE = """## Does the inserted object sit at the right depth?

1. In ComfyUI's input folder: `before.png`, the **context** (the scene before the insertion, shown
   only); `generations/`, your **generations** with the inserted object (one size, any number);
   `target_depth.npy`, the **intended depth** (a render or a sensor, in metres); `mask.png`, the
   **insertion mask** (white = the inserted object; red channel).
2. **Depth estimator**: put an official file in `models/editloss_depth` (files in
   `models/depthanything` and comfyui_controlnet_aux's `ckpts` are found too):
   `depth_anything_v2_vits.pth` (Apache-2.0), `..._vitb/vitl/vitg.pth` (CC-BY-NC-4.0,
   non-commercial), or MiDaS `dpt_large_384.pt`, `dpt_base_384.pt`, `midas_v21_small_256.pt` (MIT).
   Nothing is downloaded. **Estimate Depth** gives each generation's relative disparity (unknown
   scale and shift) at the image's size, and a preview.
3. **Align** fits scale and shift on the background (outside the dilated mask), in disparity,
   robustly, and returns the generations' depth in the target's space.
4. **Depth consistency**: inside the mask (the object's depth), outside (the scene must not move),
   and the depth edges along the mask's outline. Lower is better; 0 = the same depth.
5. The **picture**: aligned generation and target on one colour scale, and their difference with
   the mask's outline and the edge band; the **report** ranks the generations and writes
   `editloss/depth_scores_NNNNN_.json/.csv` to the output folder.
"""


def depth_insertion(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(DEPTH_NOTE, pos=(-480, 0), size=(440, 700))
    context = wf.add("LoadImage", {"image": "before.png"}, pos=(0, 0), size=(300, 320), title="Context (before the insertion)")
    preview = wf.add("PreviewImage", pos=(340, 0), size=(300, 320), title="Context")
    wf.connect(context, "IMAGE", preview, "images")
    loaded = wf.add("EditLossLoadImages", {"folder": "generations", "pattern": "*.png;*.jpg;*.jpeg;*.webp", "size_mismatch": "error"}, pos=(0, 360), size=(300, 150), title="Generations (object inserted)")
    preview = wf.add("PreviewImage", pos=(340, 360), size=(300, 320), title="Generations")
    wf.connect(loaded, "images", preview, "images")
    model = wf.add("EditLossDepthEstimatorLoader", {"model": "depth_anything_v2_vits.pth", "precision": "auto", "input_size": 0}, pos=(340, 740), size=(320, 130), title="Depth estimator (official file)")
    generated = wf.add("EditLossEstimateDepth", {"batch_size": 4}, pos=(340, 910), size=(320, 100), title="Generation depth (relative disparity)")
    wf.connect(model, "depth_model", generated, "depth_model")
    wf.connect(loaded, "images", generated, "image")
    as_picture = wf.add("EditLossDepthToImage", pos=(680, 0), size=(300, 60), title="Generation depth as a picture")
    wf.connect(generated, "depth", as_picture, "depth")
    depth_preview = wf.add("PreviewImage", pos=(680, 100), size=(300, 320), title="Generation depth (estimated)")
    wf.connect(as_picture, "image", depth_preview, "images")
    target = wf.add("EditLossLoadDepth", {"file": "target_depth.npy", "space": "depth", "scale": 1.0}, pos=(0, 910), size=(300, 130), title="Target depth (metres)")
    mask = wf.add("LoadImageMask", {"image": "mask.png", "channel": "red"}, pos=(0, 1080), size=(300, 320), title="Insertion mask (white = object)")
    align = wf.add("EditLossAlignDepth", {"dilate_r": 2, "robust": "trimmed"}, pos=(700, 740), size=(320, 150), title="Align (scale and shift on the background)")
    wf.connect(generated, "depth", align, "predicted")
    wf.connect(target, "depth", align, "target")
    wf.connect(mask, "MASK", align, "mask")
    report = wf.add("PreviewAny", pos=(1080, 740), size=(380, 120), title="Alignment")
    wf.connect(align, "report", report, "source")
    widgets = {"outside_dilate_r": 1, "edge_band_r": 1, "beta": 0.1, "w_inside": 1.0, "w_outside": 0.5, "w_edge": 0.5, "sample_weighting": "pixels"}
    loss = wf.add("EditLossDepthConsistency", widgets, pos=(700, 940), size=(320, 300), title="Depth consistency")
    wf.connect(align, "aligned", loss, "predicted")
    wf.connect(target, "depth", loss, "target")
    wf.connect(mask, "MASK", loss, "mask")
    for row, (output, title) in enumerate((("scores", "Depth consistency (per generation)"), ("inside", "Inside the mask"), ("outside", "Outside the mask"), ("edge", "Depth edges on the outline"))):
        show = wf.add("PreviewAny", pos=(1080, 900 + row * 130), size=(380, 110), title=title)
        wf.connect(loss, output, show, "source")
    plot = wf.add("EditLossDepthPlot", {"edge_band_r": 1}, pos=(700, 1300), size=(320, 130), title="Depth comparison")
    wf.connect(align, "aligned", plot, "predicted")
    wf.connect(target, "depth", plot, "target")
    wf.connect(mask, "MASK", plot, "mask")
    preview = wf.add("PreviewImage", pos=(1080, 1440), size=(720, 300), title="Depth: generation | target | difference")
    wf.connect(plot, "depth_comparison", preview, "images")
    _report(wf, _Output(loaded, "images"), _Output(loaded, "labels"), [loss], "editloss/depth_scores", "", pos=(1500, 740))
    return wf.to_json()


EDIT_SCORE_NOTE = """## Score Kontext edits: did the edit happen, is the shape right, is it painted over?

**Inputs** (in ComfyUI's input folder):
- `before.png`: the source image; `after.png`: the intended result (ground truth);
- `generations/`: your Kontext generations (seeds, LoRA strengths, checkpoints), any number, one size;
- optional `mask.png`: the edit region (white). To use it, select **Your edit mask** and un-mute it
  (Ctrl+M); muted, the mask is derived from where before and after differ.

**Encoder**: the weight-free one (no download). To switch, connect another loader's `encoder`
output to the four **Encode** nodes: *open_clip* or *timm* (DINOv2) with a file in
`models/editloss_encoders`, or ComfyUI's **Load CLIP Vision** through *CLIP Vision as Encoder*
(un-mute the one you use).

**Scores** (lower is better), on the edit region only:
- **no_edit_identity**: high when the generation stayed the source;
- **geometry_match**: distance to the target's patches: high for a distorted object;
- **overlay_avoidance**: high when the generation is nearer the *overlay negative* (the new object
  pasted over the old one, built from before/after) than the target.

**Report**: the table (best first by `1*identity + 0.5*geometry + 0.7*overlay`, seed 001's mix; edit
the weights on the node), the charts, and `editloss/scores_NNNNN_.json/.csv` in the output folder.
**Pick Best** shows the winner; the **heat maps** show where each generation differs.
"""

SCORE_WEIGHTS = "no_edit_identity=1.0, geometry_match=0.5, overlay_avoidance=0.7"


def _scoring_half(wf: WorkflowBuilder, before, after, generations, labels, x: float = 0, y: float = 0) -> None:
    """The scoring graph shared by the flagship workflows: edit mask, overlay negative, encoders,
    the three task losses on the edit region, heat maps, report and best pick."""
    user_mask = wf.add("LoadImageMask", {"image": "mask.png", "channel": "red"}, pos=(x, y + 1080), size=(300, 320), title="Your edit mask (muted: un-mute to use it)", mode=2)
    mask = wf.add("EditLossEditMask", {"threshold": 0.08, "clean": 1, "grow": 6}, pos=(x + 360, y), size=(320, 170), title="Edit region (yours, or from before/after)")
    wf.connect(before, "IMAGE", mask, "before")
    wf.connect(after, "IMAGE", mask, "after")
    wf.connect(user_mask, "MASK", mask, "mask")
    overlay = wf.add("EditLossOverlayNegative", {"mode": "new_over_old", "blend": 0.5, "threshold": 0.1}, pos=(x + 360, y + 220), size=(320, 200), title="Overlay negative (new object over the old)")
    wf.connect(before, "IMAGE", overlay, "before")
    wf.connect(after, "IMAGE", overlay, "after")
    wf.connect(mask, "edit_mask", overlay, "edit_mask")
    overlay_preview = wf.add("PreviewImage", pos=(x + 360, y + 470), size=(320, 300), title="Overlay negative")
    wf.connect(overlay, "overlay", overlay_preview, "images")
    encoder = wf.add("EditLossWeightFreeEncoder", {"kind": "gradient+pixel", "patch_size": 16}, pos=(x + 740, y), size=(320, 110), title="Encoder: weight-free (default)")
    wf.add("EditLossOpenCLIPLoader", {"architecture": "ViT-B-32", "checkpoint": "open_clip_vit_b_32.safetensors"}, pos=(x + 740, y + 150), size=(320, 150), title="Encoder: open_clip (muted)", mode=2)
    wf.add("EditLossTimmLoader", {"architecture": "vit_small_patch14_dinov2.lvd142m", "checkpoint": "dinov2_vits14.safetensors"}, pos=(x + 740, y + 340), size=(320, 170), title="Encoder: timm DINOv2 (muted)", mode=2)
    clip_vision = wf.add("CLIPVisionLoader", {"clip_name": "clip_vision_h.safetensors"}, pos=(x + 740, y + 550), size=(320, 80), title="Load CLIP Vision (muted)", mode=2)
    adapter = wf.add("EditLossCLIPVisionEncoder", {"crop": "center"}, pos=(x + 740, y + 670), size=(320, 100), title="Encoder: ComfyUI CLIP vision (muted)", mode=2)
    wf.connect(clip_vision, "CLIP_VISION", adapter, "clip_vision")
    encoded = {}
    for row, (key, source, output) in enumerate((("before", before, "IMAGE"), ("after", after, "IMAGE"), ("generations", generations[0], generations[1]), ("overlay", overlay, "overlay"))):
        node = wf.add("EditLossEncode", {"batch_size": 8}, pos=(x + 1120, y + row * 200), size=(320, 170), title=f"Encode {key}")
        wf.connect(encoder, "encoder", node, "encoder")
        wf.connect(source, output, node, "image")
        encoded[key] = node
    identity = wf.add("EditLossNoEditIdentity", {"margin": 0.2, "dist": "cos", "agg": "mean"}, pos=(x + 1500, y), size=(320, 180), title="No-edit identity")
    wf.connect(encoded["before"], "patches", identity, "z_src")
    geometry = wf.add("EditLossGeometryMatch", {"kind": "cos", "agg": "mean"}, pos=(x + 1500, y + 220), size=(320, 130), title="Geometry match")
    overlay_loss = wf.add("EditLossOverlayAvoidance", {"margin": 0.2, "dist": "cos", "agg": "mean"}, pos=(x + 1500, y + 390), size=(320, 180), title="Overlay avoidance")
    wf.connect(encoded["overlay"], "patches", overlay_loss, "z_overlay")
    for node in (identity, geometry, overlay_loss):
        wf.connect(encoded["generations"], "patches", node, "z_pred")
        wf.connect(encoded["after"], "patches", node, "z_gt")
        wf.connect(mask, "edit_mask", node, "mask")
    heatmap = wf.add("EditLossPatchHeatmap", {"dist": "cos"}, pos=(x + 1500, y + 620), size=(320, 160), title="Heat maps")
    wf.connect(generations[0], generations[1], heatmap, "image")
    wf.connect(encoded["generations"], "patches", heatmap, "z_pred")
    wf.connect(encoded["after"], "patches", heatmap, "z_gt")
    wf.connect(encoded["before"], "patches", heatmap, "z_src")
    heat_preview = wf.add("PreviewImage", pos=(x + 1880, y + 820), size=(640, 420), title="Where each generation differs")
    wf.connect(heatmap, "heatmaps", heat_preview, "images")
    report = wf.add("EditLossReport", {"filename_prefix": "editloss/scores", "weights": SCORE_WEIGHTS, "normalize": "none", "save_files": True, "pictures": True}, pos=(x + 1880, y), size=(640, 760), title="Report")
    best = wf.add("EditLossPickBest", {"weights": SCORE_WEIGHTS, "normalize": "none", "count": 1}, pos=(x + 2580, y), size=(320, 200), title="Pick best generation")
    for node in (report, best):
        wf.connect(generations[0], generations[1], node, "generations")
        if labels is not None:
            wf.connect(labels[0], labels[1], node, "labels")
        for slot, loss in enumerate((identity, geometry, overlay_loss), 1):
            wf.connect(loss, "scores", node, f"scores_{slot}")
    best_preview = wf.add("PreviewImage", pos=(x + 2580, y + 240), size=(320, 320), title="Best generation")
    wf.connect(best, "best", best_preview, "images")
    ranking = wf.add("PreviewAny", pos=(x + 2580, y + 600), size=(320, 160), title="Ranking")
    wf.connect(best, "ranking", ranking, "source")


def kontext_edit_score(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(EDIT_SCORE_NOTE, pos=(-480, 0), size=(440, 900))
    before = wf.add("LoadImage", {"image": "before.png"}, pos=(0, 0), size=(300, 320), title="Source (before)")
    after = wf.add("LoadImage", {"image": "after.png"}, pos=(0, 360), size=(300, 320), title="Intended result (after)")
    generations = wf.add("EditLossLoadImages", {"folder": "generations", "pattern": "*.png;*.jpg;*.jpeg;*.webp", "size_mismatch": "error"}, pos=(0, 720), size=(300, 150), title="Generations (a folder)")
    _scoring_half(wf, before, after, (generations, "images"), (generations, "labels"))
    return wf.to_json()


GENERATE_NOTE = """## Generate Kontext edits and score them in one run

The left half is ComfyUI's **Flux Kontext dev** edit graph (as in its template); the right half is
the scoring graph of `kontext_edit_score.json`.

1. Models, in ComfyUI's folders: `diffusion_models/flux1-dev-kontext_fp8_scaled.safetensors`,
   `text_encoders/clip_l.safetensors` and `t5xxl_fp8_e4m3fn_scaled.safetensors`, `vae/ae.safetensors`.
2. Load the **source** (`before.png`) and the **intended result** (`after.png`, the ground truth you
   want Kontext to reach); write the edit instruction in the prompt.
3. **Batch**: *Repeat Latent Batch* makes 4 generations with different noise; change the amount,
   the seed, or enable the **LoRA** node (bypassed: Ctrl+B) to score a LoRA at a strength.
4. Queue: the generations are saved and scored: the report ranks them (lower is better), Pick Best
   shows the winner. Both images are scaled to Kontext's resolution before scoring, like the source
   the model sees.

Headless, the scoring half runs without the diffusion model: inject the decoded images
(`python -m comfy_editloss run ... --inject <VAE Decode id>:0=generations.png ...`).
"""


def kontext_generate_and_score(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(GENERATE_NOTE, pos=(-480, 0), size=(440, 700))
    before = wf.add("LoadImage", {"image": "before.png"}, pos=(0, 0), size=(300, 320), title="Source (before)")
    after = wf.add("LoadImage", {"image": "after.png"}, pos=(0, 360), size=(300, 320), title="Intended result (after)")
    scaled_before = wf.add("FluxKontextImageScale", pos=(340, 0), size=(260, 50), title="Source at Kontext's size")
    wf.connect(before, "IMAGE", scaled_before, "image")
    scaled_after = wf.add("FluxKontextImageScale", pos=(340, 360), size=(260, 50), title="Target at Kontext's size")
    wf.connect(after, "IMAGE", scaled_after, "image")
    unet = wf.add("UNETLoader", {"unet_name": "flux1-dev-kontext_fp8_scaled.safetensors", "weight_dtype": "default"}, pos=(0, 760), size=(300, 90))
    lora = wf.add("LoraLoaderModelOnly", {"lora_name": "my_kontext_lora.safetensors", "strength_model": 1.0}, pos=(340, 760), size=(300, 90), title="Your Kontext LoRA (bypassed)", mode=4)
    wf.connect(unet, "MODEL", lora, "model")
    clip = wf.add("DualCLIPLoader", {"clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl_fp8_e4m3fn_scaled.safetensors", "type": "flux", "device": "default"}, pos=(0, 890), size=(300, 130))
    vae = wf.add("VAELoader", {"vae_name": "ae.safetensors"}, pos=(0, 1060), size=(300, 60))
    prompt = wf.add("CLIPTextEncode", {"text": "Replace the red object with a blue one of the same size, keep everything else unchanged."}, pos=(340, 890), size=(300, 160), title="Edit instruction")
    wf.connect(clip, "CLIP", prompt, "clip")
    encoded = wf.add("VAEEncode", pos=(660, 0), size=(220, 50))
    wf.connect(scaled_before, "IMAGE", encoded, "pixels")
    wf.connect(vae, "VAE", encoded, "vae")
    reference = wf.add("ReferenceLatent", pos=(660, 890), size=(220, 50))
    wf.connect(prompt, "CONDITIONING", reference, "conditioning")
    wf.connect(encoded, "LATENT", reference, "latent")
    guidance = wf.add("FluxGuidance", {"guidance": 2.5}, pos=(920, 890), size=(220, 60))
    wf.connect(reference, "CONDITIONING", guidance, "conditioning")
    negative = wf.add("ConditioningZeroOut", pos=(920, 990), size=(220, 30))
    wf.connect(prompt, "CONDITIONING", negative, "conditioning")
    batch = wf.add("RepeatLatentBatch", {"amount": 4}, pos=(660, 120), size=(220, 60), title="Generations per run")
    wf.connect(encoded, "LATENT", batch, "samples")
    sampler = wf.add("KSampler", {"seed": 784381637916598, "steps": 20, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}, pos=(1180, 760), size=(300, 260))
    wf.connect(lora, "MODEL", sampler, "model")
    wf.connect(guidance, "CONDITIONING", sampler, "positive")
    wf.connect(negative, "CONDITIONING", sampler, "negative")
    wf.connect(batch, "LATENT", sampler, "latent_image")
    decoded = wf.add("VAEDecode", pos=(1180, 1060), size=(220, 50), title="Generations")
    wf.connect(sampler, "LATENT", decoded, "samples")
    wf.connect(vae, "VAE", decoded, "vae")
    save = wf.add("SaveImage", {"filename_prefix": "kontext/generation"}, pos=(1520, 760), size=(320, 360))
    wf.connect(decoded, "IMAGE", save, "images")
    _scoring_half(wf, scaled_before, scaled_after, (decoded, "IMAGE"), None, x=1900, y=0)
    return wf.to_json()


WORKFLOWS = {
    "kontext_edit_score.json": kontext_edit_score,
    "kontext_generate_and_score.json": kontext_generate_and_score,
    "weight_free_edit_heatmaps.json": weight_free_edit_heatmaps,
    "texture_scale.json": texture_scale,
    "depth_insertion.json": depth_insertion,
}


def build_all() -> dict[str, dict]:
    env = Environment.create([HERE.parent])
    return {name: make(env) for name, make in WORKFLOWS.items()}


def main() -> int:
    for name, data in build_all().items():
        (HERE / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

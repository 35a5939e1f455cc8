"""Generate the shipped workflows from their description here: ``python3 workflows/build.py``.

The JSON files beside this script are what users drag into ComfyUI; tests check they equal what
this script writes, convert and validate against ComfyUI's node catalogue, and run headless.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from comfy_editloss.graph.authoring import WorkflowBuilder  # noqa: E402
from comfy_editloss.graph.runtime import Environment  # noqa: E402

WEIGHT_FREE_NOTE = """## Score one Kontext edit with the weight-free encoder

No model to download: the encoder sees **shape** (histograms of edge directions per patch) and
**colour**.

1. Load the **source** (before), the **intended result** (after) and your **generation** (or a batch
   of generations) in the three Load Image nodes.
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
    for row, (name, title) in enumerate((("before.png", "Source (before)"), ("after.png", "Intended result (after)"), ("generation.png", "Generation"))):
        images[name] = wf.add("LoadImage", {"image": name}, pos=(0, row * 360), size=(300, 320), title=title)
    encoded = {}
    for row, name in enumerate(images):
        encoded[name] = wf.add("EditLossWeightFreeEncode", {"kind": "gradient+pixel", "patch_size": 16}, pos=(360, row * 360 + 40), size=(320, 110))
        wf.connect(images[name], "IMAGE", encoded[name], "image")
    mask = wf.add("EditLossEditMask", {"threshold": 0.08, "clean": 1, "grow": 6}, pos=(360, 1120), size=(320, 150), title="Edit region (from before/after)")
    wf.connect(images["before.png"], "IMAGE", mask, "before")
    wf.connect(images["after.png"], "IMAGE", mask, "after")
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
    wf.connect(images["generation.png"], "IMAGE", heatmap, "image")
    wf.connect(encoded["generation.png"], "patches", heatmap, "z_pred")
    wf.connect(encoded["after.png"], "patches", heatmap, "z_gt")
    wf.connect(encoded["before.png"], "patches", heatmap, "z_src")
    preview = wf.add("PreviewImage", pos=(1140, 440), size=(640, 360), title="Where the generation differs")
    wf.connect(heatmap, "heatmaps", preview, "images")
    return wf.to_json()


TEXTURE_NOTE = """## Is the generated material at the right scale?

For material replacement (tiles, bricks, planks): these losses look only at **how often the pattern
repeats**, not at its colour or where it starts.

1. Load the **target material** (a photo or crop of the material at the intended scale), the
   **generated image** (same size; a batch of generations works too) and a **mask** of the material
   region (white = material; read from the red channel). No mask? Delete the mask node: the whole
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
"""


def texture_scale(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(TEXTURE_NOTE, pos=(-480, 0), size=(440, 620))
    target = wf.add("LoadImage", {"image": "target_material.png"}, pos=(0, 0), size=(300, 320), title="Target material (intended scale)")
    generated = wf.add("LoadImage", {"image": "generated_material.png"}, pos=(0, 360), size=(300, 320), title="Generated image")
    mask = wf.add("LoadImageMask", {"image": "material_mask.png", "channel": "red"}, pos=(0, 720), size=(300, 320), title="Material mask (white = material)")
    peak = {"r_bins": 256, "tau": 0.06, "min_bin": 2, "max_bin": 0}
    acf = {"r_bins": 256, "tau": 0.08, "min_rel": 0.03, "max_rel": 0.6}
    log_polar = {"out_r": 128, "out_t": 180, "r_min": 0.01}
    losses = [
        ("EditLossSpectralPeriod", {**peak, "band_sigma": 0.15, "w_peak": 1.0, "w_band": 1.0, "center_period_px": 0.0}, "Spectral period", ("generated", "target")),
        ("EditLossLogPolarAlign", {**log_polar, "w": 1.0}, "Log-polar align", ("generated", "target")),
        ("EditLossACFPeriod", {**acf, "w": 1.0}, "ACF period", ("generated", "target")),
        ("EditLossScaleConsistency", {**peak, "w": 1.0}, "Scale consistency (generation vs target)", ("generated_1", "generated_2")),
    ]
    for row, (node_type, widgets, title, (first, second)) in enumerate(losses):
        node = wf.add(node_type, widgets, pos=(380, row * 300), size=(340, 260), title=title)
        wf.connect(generated, "IMAGE", node, first)
        wf.connect(target, "IMAGE", node, second)
        wf.connect(mask, "MASK", node, "mask")
        show = wf.add("PreviewAny", pos=(780, row * 300), size=(360, 140), title=f"{title} (per generation)")
        wf.connect(node, "scores", show, "source")
    for row, (source, title) in enumerate(((target, "Period of the target"), (generated, "Period of the generation"))):
        period = wf.add("EditLossTexturePeriod", peak, pos=(380, 1200 + row * 240), size=(340, 200), title=title)
        wf.connect(source, "IMAGE", period, "image")
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
        wf.connect(generated, "IMAGE", node, "generated")
        wf.connect(target, "IMAGE", node, "target")
        wf.connect(mask, "MASK", node, "mask")
        preview = wf.add("PreviewImage", pos=(1580, y), size=size, title=title)
        wf.connect(node, output, preview, "images")
        y += size[1] + 60
    return wf.to_json()


DEPTH_NOTE = """## Does the inserted object sit at the right depth?

1. Load the **context** (the scene before the insertion), the **generation** (with the inserted
   object), the **target depth** (the intended depth: a render or a sensor, in metres) and the
   **insertion mask** (white = the inserted object; red channel).
2. **Depth estimator**: put an official file in `models/editloss_depth` (files in
   `models/depthanything` and comfyui_controlnet_aux's `ckpts` are found too):
   `depth_anything_v2_vits.pth` (Apache-2.0), `..._vitb/vitl/vitg.pth` (CC-BY-NC-4.0,
   non-commercial), or MiDaS `dpt_large_384.pt`, `dpt_base_384.pt`, `midas_v21_small_256.pt` (MIT).
   Nothing is downloaded. **Estimate Depth** gives the generation's relative disparity (unknown
   scale and shift) at the image's size, and a preview.
3. **Align** fits scale and shift on the background (outside the dilated mask), in disparity,
   robustly, and returns the generation's depth in the target's space.
4. **Depth consistency**: inside the mask (the object's depth), outside (the scene must not move),
   and the depth edges along the mask's outline. Lower is better; 0 = the same depth.
5. The **picture**: aligned generation and target on one colour scale, and their difference with
   the mask's outline and the edge band.
"""


def depth_insertion(env: Environment) -> dict:
    wf = WorkflowBuilder(env.catalogue)
    wf.note(DEPTH_NOTE, pos=(-480, 0), size=(440, 640))
    for row, (name, title) in enumerate((("insertion_context.png", "Context (before the insertion)"), ("insertion_generation.png", "Generation (object inserted)"))):
        image = wf.add("LoadImage", {"image": name}, pos=(0, row * 360), size=(300, 320), title=title)
        preview = wf.add("PreviewImage", pos=(340, row * 360), size=(300, 320), title=title)
        wf.connect(image, "IMAGE", preview, "images")
    model = wf.add("EditLossDepthEstimatorLoader", {"model": "depth_anything_v2_vits.pth", "precision": "auto", "input_size": 0}, pos=(340, 740), size=(320, 130), title="Depth estimator (official file)")
    generated = wf.add("EditLossEstimateDepth", {"batch_size": 4}, pos=(340, 910), size=(320, 100), title="Generation depth (relative disparity)")
    wf.connect(model, "depth_model", generated, "depth_model")
    wf.connect(image, "IMAGE", generated, "image")
    depth_preview = wf.add("PreviewImage", pos=(680, 0), size=(300, 320), title="Generation depth (estimated)")
    wf.connect(generated, "preview", depth_preview, "images")
    target = wf.add("EditLossLoadDepth", {"file": "target_depth.npy", "space": "depth", "scale": 1.0}, pos=(0, 910), size=(300, 130), title="Target depth (metres)")
    mask = wf.add("LoadImageMask", {"image": "insertion_mask.png", "channel": "red"}, pos=(0, 1080), size=(300, 320), title="Insertion mask (white = object)")
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
    return wf.to_json()


WORKFLOWS = {
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

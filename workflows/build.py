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


WORKFLOWS = {
    "weight_free_edit_heatmaps.json": weight_free_edit_heatmaps,
    "texture_scale.json": texture_scale,
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

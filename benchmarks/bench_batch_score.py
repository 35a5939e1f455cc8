"""Batch scoring throughput: ``python -m comfy_editloss score`` against the same losses in a plain loop.

N generated edit sets (default 100, 512x512, 4 generations each: correct, no edit, distorted,
overlay) are written as PNG files. Measured in one run, on the same files:

* loop: a plain Python loop without the runner: read the images, derive the edit mask, build the
  overlay negative, encode with the weight-free encoder, the three task losses on the edit region,
  the weighted total, and the JSON/CSV files per set (what the scorer writes);
* scorer: ``score_sets`` with the flagship scoring graph minus its pictures (previews, heat maps,
  best pick; the report's pictures off): the same computation through the headless runner;
* scorer, full flagship: the shipped ``kontext_edit_score.json`` as is (pictures, heat maps), for
  information.

The scores of the scorer and the loop are checked equal. Target (issue: the main job): the runner
adds at most 10% (scorer / loop <= 1.10).

    python3 benchmarks/bench_batch_score.py               # 100 sets at 512x512
    python3 benchmarks/bench_batch_score.py --sets 4 --size 128 --repeat 1   # a quick check
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from comfy_editloss.graph.batch import find_edit_sets, score_sets  # noqa: E402
from comfy_editloss.encoders import weight_free_embedding  # noqa: E402
from comfy_editloss.graph.convert import convert  # noqa: E402
from comfy_editloss.graph.runtime import Environment  # noqa: E402
from comfy_editloss.io.images import image_files, load_image, load_image_batch  # noqa: E402
from comfy_editloss.losses import loss_geometry_match, loss_no_edit_identity, loss_overlay_avoidance  # noqa: E402
from comfy_editloss.edits.masks import edit_mask_from_difference  # noqa: E402
from comfy_editloss.edits.negatives import overlay_negatives  # noqa: E402
from comfy_editloss.report.files import numbered_path, write_atomic, write_numbered  # noqa: E402
from comfy_editloss.report.table import ScoreTable, table_json_text  # noqa: E402
from comfy_editloss.testing.synthetic import make_edit_scene  # noqa: E402
from comfy_editloss.types import Scores  # noqa: E402

FLAGSHIP = ROOT / "workflows" / "kontext_edit_score.json"
WEIGHTS = "no_edit_identity=1.0, geometry_match=0.5, overlay_avoidance=0.7"
PICTURE_NODES = {"PreviewImage", "PreviewAny", "EditLossPatchHeatmap", "EditLossPickBest"}


def write_sets(root: Path, count: int, size: int) -> None:
    from PIL import Image  # noqa: PLC0415

    def save(image: torch.Tensor, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0].clamp(0, 1) * 255).round().byte().numpy()).save(path, compress_level=1)

    for i in range(count):
        scene = make_edit_scene(1000 + i, (size, size))
        folder = root / f"set_{i + 1:03}"
        save(scene.before, folder / "before.png")
        save(scene.after, folder / "after.png")
        for name, image in (("correct", scene.shifted), ("no_edit", scene.before), ("distorted", scene.distorted), ("overlay", scene.overlay)):
            save(image, folder / "generations" / f"{name}.png")


def lean_prompt(env: Environment) -> dict:
    """The flagship scoring graph without its pictures, as an API prompt."""
    prompt = convert(json.loads(FLAGSHIP.read_text()), env.catalogue)
    prompt = {k: v for k, v in prompt.items() if v["class_type"] not in PICTURE_NODES}
    for entry in prompt.values():
        if entry["class_type"] == "EditLossReport":
            entry["inputs"]["pictures"] = False
    return prompt


def _grid_mask(mask: torch.Tensor, grid: torch.Tensor, batch: int) -> torch.Tensor:
    weights = F.adaptive_avg_pool2d(mask[:, None], tuple(grid.shape[1:3]))[:, 0]
    return weights.expand(batch, -1, -1)


def score_loop(sets: list[Path], output: Path) -> dict[str, list[float]]:
    """The reference: the same computation and files, called directly."""
    totals = {}
    with torch.inference_mode():
        for folder in sets:
            before, after = load_image(folder / "before.png"), load_image(folder / "after.png")
            files = image_files(folder / "generations")
            generations = load_image_batch(files)
            mask = edit_mask_from_difference(before, after, 0.08, 1, 6)
            overlay = overlay_negatives(before, after, mask, "new_over_old", 0.5, None, None, 0.1).clamp(0, 1)
            z_src, z_gt, z_pred, z_overlay = (weight_free_embedding(x, "gradient+pixel", 16) for x in (before, after, generations, overlay))
            batch = z_pred.shape[0]
            grid_mask = _grid_mask(mask, z_pred, batch)
            expand = lambda z: z.expand(batch, -1, -1, -1)  # noqa: E731
            identity = loss_no_edit_identity(z_pred, expand(z_gt), expand(z_src), margin=0.2, dist="cos", agg="mean", mask=grid_mask, reduction="none")
            geometry = loss_geometry_match(z_pred, expand(z_gt), kind="cos", agg="mean", mask=grid_mask, reduction="none")
            overlay_loss = loss_overlay_avoidance(z_pred, expand(z_gt), expand(z_overlay), margin=0.2, dist="cos", agg="mean", mask=grid_mask, reduction="none")
            table = ScoreTable.from_scores(
                [Scores("no_edit_identity", identity), Scores("geometry_match", geometry), Scores("overlay_avoidance", overlay_loss)],
                [p.stem for p in files],
            )
            total = table.weighted_total(WEIGHTS)
            target, stem, counter, _ = numbered_path("editloss/scores", output / folder.name)
            write_numbered(target, stem, counter, {"json": table_json_text(table.to_json(total)), "csv": table.to_csv(total)})
            write_atomic(output / folder.name / "result.json", json.dumps(table.to_json(total)))
            totals[folder.name] = total.tolist()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2, help="passes of each; the best is kept")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="editloss_bench_"))
    try:
        started = time.perf_counter()
        write_sets(work / "sets", args.sets, args.size)
        print(f"{args.sets} edit sets of 4 generations at {args.size}x{args.size} written in {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}")
        sets = find_edit_sets(work / "sets")
        env = Environment.create()
        lean = lean_prompt(env)
        times: dict[str, list[float]] = {"loop": [], "scorer": []}
        loop_totals = scorer_totals = None
        for attempt in range(args.repeat):
            for name in ("loop", "scorer"):  # alternated, so that drifts of a shared machine hit both
                out = work / f"{name}_{attempt}"
                started = time.perf_counter()
                if name == "loop":
                    loop_totals = score_loop(sets, out)
                else:
                    summary = score_sets(work / "sets", lean, out, env=env, progress=False)
                    assert not summary.failed, summary.failed
                    results = {k: json.loads((out / "sets" / k / "result.json").read_text()) for k in (s.name for s in sets)}
                    scorer_totals = {k: r["scores"]["weighted_total"]["values"] for k, r in results.items()}
                times[name].append(time.perf_counter() - started)
        worst = max(abs(a - b) for k in loop_totals for a, b in zip(loop_totals[k], scorer_totals[k]))
        assert worst < 1e-5, f"the scorer and the loop disagree by {worst}"
        started = time.perf_counter()
        summary = score_sets(work / "sets", FLAGSHIP, work / "full", env=env, progress=False)
        full = time.perf_counter() - started
        assert not summary.failed, summary.failed
        loop, scorer = min(times["loop"]), min(times["scorer"])
        print(f"{'':<28}{'total s':>10}{'ms/set':>10}{'sets/s':>10}")
        for label, seconds in (("loop (no runner)", loop), ("scorer (same graph)", scorer), ("scorer, full flagship", full)):
            print(f"{label:<28}{seconds:>10.2f}{1000 * seconds / args.sets:>10.1f}{args.sets / seconds:>10.2f}")
        print(f"all passes: loop {', '.join(f'{t:.2f}' for t in times['loop'])} s; scorer {', '.join(f'{t:.2f}' for t in times['scorer'])} s")
        print(f"scores equal: largest difference of the weighted totals {worst:.2e}")
        ratio = scorer / loop
        print(f"scorer / loop: {ratio:.3f} (runner adds {100 * (ratio - 1):+.1f}%; target <= +10%)")
        print(f"full flagship / loop: {full / loop:.2f} (pictures, heat maps and previews included)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

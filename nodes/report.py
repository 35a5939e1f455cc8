"""Report nodes: a folder of generations as one batch, the score table (picture, chart, text, JSON
and CSV files), and picking the best generation by a weighted combination of scores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..comfy_editloss._checks import describe
from ..comfy_editloss.io.images import SIZE_MISMATCH, image_files, load_image_batch
from ..comfy_editloss.report.files import write_numbered
from ..comfy_editloss.report.table import NORMALIZATIONS, ScoreTable, table_json_text
from ..comfy_editloss.types import SCORES_TYPE
from .host import folders, outputs
from .common import as_image

SCORE_TABLE_TYPE = "EDITLOSS_SCORE_TABLE"
CATEGORY_REPORT = "editloss/report"
SCORE_SLOTS = 8
WEIGHTS_TOOLTIP = (
    "How scores combine into the ranking: name=weight pairs separated by commas or new lines, e.g. "
    "'no_edit_identity=1, geometry_match=0.5, overlay_avoidance=0.7' (seed 001's mix). Names are the score columns "
    "(a repeated name gets _2, _3...). Empty = every score counts 1; with weights, unnamed scores count 0. "
    "Higher-is-better scores enter negated."
)
NORMALIZE_TOOLTIP = (
    "none = add the raw values (the losses' own scales, as in training); minmax = scale each score to 0..1 over the "
    "generations first (0 = best); rank = use each generation's rank per score."
)


def _score_inputs() -> dict:
    inputs = {f"scores_{i}": (SCORES_TYPE, {"tooltip": "Per-generation scores: the 'scores' output of any EditLoss loss node."}) for i in range(1, SCORE_SLOTS + 1)}
    inputs["table"] = (SCORE_TABLE_TYPE, {"tooltip": "More scores, from EditLoss Collect Scores (chain them for any number of scores)."})
    return inputs


def collect_table(labels: str | None, scores: dict, count_hint: int | None = None) -> ScoreTable:
    """A score table from the node's ``scores_N`` inputs (in slot order) and an optional ``table``."""
    columns = [scores[f"scores_{i}"] for i in range(1, SCORE_SLOTS + 1) if scores.get(f"scores_{i}") is not None]
    extra = scores.get("table")
    if extra is not None and not isinstance(getattr(extra, "columns", None), list):
        raise TypeError(f"table must be an {SCORE_TABLE_TYPE} from EditLoss Collect Scores, got {describe(extra)}")
    if extra is not None:
        columns += list(extra.columns)
        labels = labels or list(extra.labels)
    if not columns:
        raise ValueError("no scores connected: connect the 'scores' output of at least one loss node to scores_1")
    table = ScoreTable.from_scores(columns, labels or None)
    if count_hint is not None and count_hint != len(table):
        raise ValueError(f"generations has {count_hint} image(s) but the scores have {len(table)} value(s) each: connect the batch the scores were computed on")
    return table


def _in_output(path: Path) -> str:
    try:
        return path.relative_to(folders.output_directory()).as_posix()
    except ValueError:
        return str(path)


def _labels_text(labels) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, str):
        raise TypeError(f"labels must be text (one name per line), got {describe(labels)}")
    return labels if labels.strip() else None


# ComfyUI's annotated names (folder_paths.annotated_filepath): "name [output]" is looked up in the
# output folder, "name [temp]" in the temp folder, anything else in the input folder.
FOLDER_ANNOTATIONS = {" [input]": "input", " [output]": "output", " [temp]": "temp"}


def _base_directory(kind: str) -> Path:
    return {"input": folders.input_directory, "output": folders.output_directory, "temp": folders.temp_directory}[kind]()


def confined_folder(folder: str) -> tuple[Path, Path, str]:
    """The folder a Load Images name stands for, never outside ComfyUI's folders: (the folder with
    its symlinks resolved, the resolved base folder, the base folder's kind).

    A prompt may come from anyone who can reach the server, so the name is resolved (``..`` and
    symlinks, the folder's own and its parents') before it is checked to lie inside the input folder
    (or the output or temp folder for ``name [output]`` / ``name [temp]``). Whatever is wrong with a
    name (absolute, leading outside, missing, a file) gets one message, which tells nothing about
    the server's other folders."""
    if not isinstance(folder, str):
        raise TypeError(f"folder must be text naming a folder inside the input directory, got {describe(folder)}")
    if not folder.strip():
        raise ValueError(f"folder must name a folder inside the input directory (e.g. generations), got {folder!r}")
    name, kind = folder.strip(), "input"
    for tag, annotated in FOLDER_ANNOTATIONS.items():
        if name.endswith(tag):
            name, kind = name[: -len(tag)], annotated
            break
    base = _base_directory(kind).resolve()
    path = Path(name)
    try:
        resolved = (base / path).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        resolved = None
    if resolved is None or path.is_absolute() or not resolved.is_relative_to(base) or not resolved.is_dir():
        raise ValueError(f"folder {folder!r} is not a folder inside the {kind} directory")
    return resolved, base, kind


class EditLossLoadImages:
    DESCRIPTION = (
        "Loads every image of a folder as one batch, in natural order (gen_2 before gen_10), with the file names as "
        "labels: a batch of generations (seeds, LoRA strengths, checkpoints) to score at once. The folder is inside "
        "ComfyUI's input folder ('name [output]' or 'name [temp]': inside the output or temp folder, as ComfyUI's "
        "annotated names); paths leading elsewhere (absolute, '..', symlinks pointing out) are refused."
    )
    CATEGORY = CATEGORY_REPORT
    FUNCTION = "load"
    RETURN_TYPES = ("IMAGE", "STRING", "INT")
    RETURN_NAMES = ("images", "labels", "count")
    OUTPUT_TOOLTIPS = (
        "The images as one batch [B,H,W,3].",
        "Their file names without extension, one per line, for EditLoss Report's labels.",
        "How many images were loaded.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "folder": ("STRING", {"default": "generations", "tooltip": "A folder inside ComfyUI's input folder (e.g. generations, or runs/seed_sweep); 'name [output]' reads it from the output folder, 'name [temp]' from the temp folder."}),
                "pattern": ("STRING", {"default": "*.png;*.jpg;*.jpeg;*.webp", "tooltip": "File patterns to include, separated by semicolons."}),
                "size_mismatch": (list(SIZE_MISMATCH), {"default": "error", "tooltip": "What to do with images of another size than the first: error, or resize them to the first's size."}),
            }
        }

    @staticmethod
    def _files(folder: str, pattern: str) -> list[Path]:
        """The matching image files of the confined folder; a file that is a symlink to somewhere
        outside the base folder is refused like a folder would be."""
        path, base, kind = confined_folder(folder)
        files = image_files(path, pattern)
        for file in files:
            if not file.resolve().is_relative_to(base):
                raise ValueError(f"{file.name} in folder {folder!r} links to a file outside the {kind} directory")
        if not files:
            raise ValueError(f"no image matching {pattern!r} in folder {folder!r}")
        return files

    @classmethod
    def IS_CHANGED(cls, folder, pattern, size_mismatch):
        try:
            files = cls._files(folder, pattern)
        except (OSError, TypeError, ValueError):
            return float("nan")  # always re-run: the error is reported when the node runs
        return "|".join(f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in files) + f"|{size_mismatch}"

    @classmethod
    def VALIDATE_INPUTS(cls, folder, pattern):
        try:
            cls._files(folder, pattern)
        except (OSError, TypeError, ValueError) as exc:
            return str(exc)
        return True

    def load(self, folder, pattern, size_mismatch):
        files = self._files(folder, pattern)
        images = load_image_batch(files, size_mismatch)
        return (images, "\n".join(os.path.splitext(p.name)[0] for p in files), len(files))


class EditLossCollectScores:
    DESCRIPTION = (
        "Gathers up to eight per-generation scores (and, chained, any number) into one score table, for EditLoss Report "
        "and EditLoss Pick Best."
    )
    CATEGORY = CATEGORY_REPORT
    FUNCTION = "collect"
    RETURN_TYPES = (SCORE_TABLE_TYPE,)
    RETURN_NAMES = ("table",)
    OUTPUT_TOOLTIPS = ("The scores side by side, one row per generation.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}, "optional": _score_inputs()}

    def collect(self, **scores):
        return (collect_table(None, scores),)


class EditLossReport:
    DESCRIPTION = (
        "The score report of a batch of generations: a table (one row per generation, best first by the weighted total, "
        "one column per connected score, the best value of each column marked) and bar charts, as pictures on the node "
        "and IMAGE outputs, as text, and as scores_NNNNN_.json and .csv in ComfyUI's output folder (a new number each run, "
        "nothing overwritten)."
    )
    CATEGORY = CATEGORY_REPORT
    FUNCTION = "report"
    OUTPUT_NODE = True
    RETURN_TYPES = ("IMAGE", "IMAGE", "STRING", SCORE_TABLE_TYPE, SCORES_TYPE)
    RETURN_NAMES = ("table_image", "chart", "text", "table", "total")
    OUTPUT_TOOLTIPS = (
        "The table as a picture, with a thumbnail of each generation.",
        "One bar chart per score; the best bar is green.",
        "The table as text (what the node shows).",
        "All scores, for another Report or Pick Best.",
        "The weighted total per generation (lower is better).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "filename_prefix": ("STRING", {"default": "editloss/scores", "tooltip": "Where the JSON and CSV go inside the output folder; ComfyUI's %date% patterns work."}),
                "weights": ("STRING", {"default": "", "multiline": True, "tooltip": WEIGHTS_TOOLTIP}),
                "normalize": (list(NORMALIZATIONS), {"default": "none", "tooltip": NORMALIZE_TOOLTIP}),
                "save_files": ("BOOLEAN", {"default": True, "tooltip": "Write the JSON and CSV files to the output folder."}),
                "pictures": ("BOOLEAN", {"default": True, "tooltip": "Draw the table and the charts (off: text and files only, faster for batch scoring; the IMAGE outputs are then 1x1)."}),
            },
            "optional": {
                "generations": ("IMAGE", {"tooltip": "The generations the scores belong to: thumbnails in the table."}),
                "labels": ("STRING", {"forceInput": True, "tooltip": "Names of the generations, one per line (e.g. from EditLoss Load Images); default generation 1, 2..."}),
                **_score_inputs(),
            },
        }

    @classmethod
    def IS_CHANGED(cls, *args, **kwargs):
        return float("nan")  # runs on every queue, like an output that writes a new numbered file each run

    def report(self, filename_prefix, weights, normalize, save_files, pictures=True, generations=None, labels=None, **scores):
        if generations is not None:
            generations = as_image(generations, "generations")
        table = collect_table(_labels_text(labels), scores, generations.shape[0] if generations is not None else None)
        total = table.weighted_total(weights or None, normalize)
        text = table.format_text(total)
        blank = np.zeros((1, 1, 3), np.float32)
        table_image = table.render_table(generations, total) if pictures else blank
        chart = table.render_chart(total) if pictures else blank
        files = []
        if save_files:
            folder, stem, counter, _ = outputs.save_path(filename_prefix, folders.output_directory())
            data = table.to_json(total)
            files = write_numbered(folder, stem, counter, {"json": table_json_text(data), "csv": table.to_csv(total)})
            text += "\nwrote " + ", ".join(_in_output(p) for p in files) + " in the output folder"
        ui = {"text": [text], "images": outputs.save_preview([table_image, chart], "editloss_report") if pictures else []}
        to_image = lambda a: torch.from_numpy(a)[None].contiguous()  # noqa: E731
        return {"ui": ui, "result": (to_image(table_image), to_image(chart), text, table, total)}


class EditLossPickBest:
    DESCRIPTION = (
        "Picks the best generation(s) of a batch by a weighted combination of scores (lower total is better), for use "
        "inside a graph: e.g. keep the best of 8 seeds, or feed the winner to the next edit."
    )
    CATEGORY = CATEGORY_REPORT
    FUNCTION = "pick"
    RETURN_TYPES = ("IMAGE", "INT", "STRING", SCORES_TYPE)
    RETURN_NAMES = ("best", "best_index", "ranking", "total")
    OUTPUT_TOOLTIPS = (
        "The best `count` generations, best first [count,H,W,3].",
        "The index (from 0) of the best generation in the batch.",
        "The generations best first, with their totals, as text.",
        "The weighted total per generation (lower is better).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generations": ("IMAGE", {"tooltip": "The batch of generations the scores were computed on."}),
                "weights": ("STRING", {"default": "", "multiline": True, "tooltip": WEIGHTS_TOOLTIP}),
                "normalize": (list(NORMALIZATIONS), {"default": "none", "tooltip": NORMALIZE_TOOLTIP}),
                "count": ("INT", {"default": 1, "min": 1, "max": 4096, "tooltip": "How many of the best to return."}),
            },
            "optional": {
                "labels": ("STRING", {"forceInput": True, "tooltip": "Names of the generations, one per line, for the ranking text."}),
                **_score_inputs(),
            },
        }

    def pick(self, generations, weights, normalize, count, labels=None, **scores):
        generations = as_image(generations, "generations")
        table = collect_table(_labels_text(labels), scores, generations.shape[0])
        total = table.weighted_total(weights or None, normalize)
        order = table.ranking(total)
        if count > len(order):
            raise ValueError(f"count is {count} but there are only {len(order)} generation(s)")
        chosen = order[:count]
        ranking = "\n".join(f"{rank}. {table.labels[i]}: {float(total.values[i]):.6g}" for rank, i in enumerate(order, 1))
        return (generations[chosen].clone(), int(order[0]), ranking, total)


NODE_CLASS_MAPPINGS = {
    "EditLossLoadImages": EditLossLoadImages,
    "EditLossCollectScores": EditLossCollectScores,
    "EditLossReport": EditLossReport,
    "EditLossPickBest": EditLossPickBest,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossLoadImages": "EditLoss Load Images (folder)",
    "EditLossCollectScores": "EditLoss Collect Scores",
    "EditLossReport": "EditLoss Report",
    "EditLossPickBest": "EditLoss Pick Best Generation",
}

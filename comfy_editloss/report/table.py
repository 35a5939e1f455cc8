"""The score table: named per-generation scores side by side, a weighted total, a ranking, and the
same table as text, CSV, JSON and pictures (a table with the best values marked, and bar charts).

Columns are :class:`comfy_editloss.types.Scores` (one value per generation, with the direction in
which they are better). Two columns with the same name (the same loss on two encoders) get ``_2``,
``_3``... appended, in input order.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from .._checks import check_choice, check_image, check_int, describe
from ..types import Scores
from .plot import BACKGROUND, GRID, INK, PREDICTION, TARGET, Chart, font, nice_ticks

NORMALIZATIONS = ("none", "minmax", "rank")
TOTAL = "weighted_total"
BEST_FILL = (205, 236, 205)
BEST_BAR = (60, 160, 80)

__all__ = ["NORMALIZATIONS", "TOTAL", "ScoreTable", "parse_labels", "parse_weights", "table_json_text"]


def parse_weights(text: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"no_edit_identity=1, geometry_match=0.5"`` (commas, semicolons or new lines) -> a dict."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        items = list(text.items())
    else:
        if not isinstance(text, str):
            raise TypeError(f"weights must be text like 'geometry_match=0.5, overlay_avoidance=0.7', got {describe(text)}")
        items = []
        for part in text.replace(";", ",").replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"weights: each entry must be name=number, got {part!r}")
            items.append((name.strip(), value.strip()))
    weights: dict[str, float] = {}
    for name, value in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"weights: each name must be a score's name (a non-empty str), got {name!r}")
        if isinstance(value, bool):  # float(True) would be a weight of 1
            raise ValueError(f"weights: the weight of {name!r} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"weights: the weight of {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"weights: the weight of {name!r} must be finite, got {value!r}")
        if name in weights:
            raise ValueError(f"weights: {name!r} is given twice")
        weights[name] = number
    return weights


def parse_labels(text: str | Sequence[str] | None, count: int) -> list[str]:
    """Generation names from text (one per line, or separated by commas) or a list or tuple of
    names; missing or empty -> ``generation 1``, ``generation 2``... ``count``: an int >= 0."""
    count = check_int(count, "count", minimum=0)
    if text is None or text == "":
        return [f"generation {i + 1}" for i in range(count)]
    if isinstance(text, str):
        parts = [p.strip() for p in (text.splitlines() if "\n" in text else text.split(","))]
        parts = [p for p in parts if p]
    elif isinstance(text, (list, tuple)):  # not a set: its order would be arbitrary
        for i, part in enumerate(text):
            if not isinstance(part, str):
                raise TypeError(f"labels[{i}] must be a str, got {describe(part)}")
        parts = list(text)
    else:
        raise TypeError(f"labels must be text (one name per line, or separated by commas) or a list of names, got {describe(text)}")
    if len(parts) != count:
        raise ValueError(f"labels must name every generation: {count} generation(s), got {len(parts)} label(s): {parts!r}")
    return parts


@dataclass
class ScoreTable:
    """Per-generation scores: ``labels[i]`` is generation ``i``, each column has one value per label."""

    labels: list[str]
    columns: list[Scores] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Labels are names (at least one); columns are added one by one as :meth:`add` adds them
        (checked, of the labels' length, repeated names numbered)."""
        if not isinstance(self.labels, (list, tuple)) or not self.labels:
            raise TypeError(f"labels must be a non-empty list of generation names, got {describe(self.labels)}")
        for i, label in enumerate(self.labels):
            if not isinstance(label, str):
                raise TypeError(f"labels[{i}] must be a str, got {describe(label)}")
        if not isinstance(self.columns, (list, tuple)):
            raise TypeError(f"columns must be a list of EDITLOSS_SCORES, got {describe(self.columns)}")
        columns, self.labels, self.columns = self.columns, list(self.labels), []
        for i, column in enumerate(columns):
            _check_scores(column, f"columns[{i}]")
            if len(column) != len(self.labels):
                raise ValueError(f"columns[{i}] ({column.name!r}) has {len(column)} value(s) but labels name {len(self.labels)} generation(s)")
            self.add(column)

    @classmethod
    def from_scores(cls, scores: Sequence[Scores], labels: str | Sequence[str] | None = None) -> "ScoreTable":
        if not isinstance(scores, (list, tuple)):
            raise TypeError(f"scores must be a list of EDITLOSS_SCORES, got {describe(scores)}")
        if not scores:
            raise ValueError("no scores to report: connect at least one EDITLOSS_SCORES output (the 'scores' output of a loss node)")
        for i, column in enumerate(scores):
            _check_scores(column, f"scores {i + 1}")
        counts = {len(c) for c in scores}
        if len(counts) != 1:
            shown = ", ".join(f"{c.name}: {len(c)}" for c in scores)
            raise ValueError(f"scores must have one value per generation each, but their lengths differ ({shown})")
        table = cls(parse_labels(labels, counts.pop()))
        for column in scores:
            table.add(column)
        return table

    def add(self, column: Scores) -> None:
        _check_scores(column, "column")
        if len(column) != len(self.labels):
            raise ValueError(f"score {column.name!r} has {len(column)} value(s) but the table has {len(self.labels)} generation(s)")
        names = set(self.names)
        name, n = column.name, 1
        while name in names or name == TOTAL:
            n += 1
            name = f"{column.name}_{n}"
        self.columns.append(Scores(name, column.values, bool(column.lower_is_better), dict(getattr(column, "details", {}) or {})))

    def merged(self, other: "ScoreTable") -> "ScoreTable":
        if not isinstance(other, ScoreTable):
            raise TypeError(f"other must be a ScoreTable, got {describe(other)}")
        if len(other.labels) != len(self.labels):
            raise ValueError(f"cannot merge score tables of {len(self.labels)} and {len(other.labels)} generations: other must have this table's generations")
        table = ScoreTable(list(self.labels), list(self.columns))
        for column in other.columns:
            table.add(column)
        return table

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __len__(self) -> int:
        return len(self.labels)

    def column(self, name: str) -> Scores:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"no score named {name!r}; the scores are: {', '.join(self.names)}")

    def best(self, column: Scores) -> int | None:
        """Index of the best finite value of a column (None if none is finite)."""
        _check_scores(column, "column")
        values = column.values.double()
        finite = torch.isfinite(values)
        if not bool(finite.any()):
            return None
        keyed = torch.where(finite, values if column.lower_is_better else -values, torch.full_like(values, math.inf))
        return int(torch.argmin(keyed))

    def weighted_total(self, weights: str | Mapping[str, float] | None = None, normalize: str = "none") -> Scores:
        """The combined score (lower is better) of every generation.

        ``weights`` names columns (``{"geometry_match": 0.5}``); without weights every column counts
        1, with weights the columns not named count 0. Higher-is-better columns enter negated.
        ``normalize``: ``"none"`` sums the raw values (seed 001's recipe: the losses' own scales);
        ``"minmax"`` first maps each column to [0, 1] over the generations (0 = best); ``"rank"``
        uses each generation's rank in the column (0 = best, ties share the lower rank). A NaN or
        infinite score has no rank: it makes the generation's total NaN in ``"rank"`` (and NaN or
        infinite in the others), which :meth:`ranking` puts last.
        """
        check_choice(normalize, "normalize", NORMALIZATIONS)
        weights = parse_weights(weights)
        unknown = [n for n in weights if n not in self.names]
        if unknown:
            raise ValueError(f"weights name unknown score(s) {', '.join(map(repr, unknown))}; the scores are: {', '.join(self.names)}")
        total = torch.zeros(len(self.labels), dtype=torch.float64)
        used = {}
        for column in self.columns:
            weight = weights.get(column.name, 0.0 if weights else 1.0)
            if weight == 0:
                continue
            values = column.values.double() * (1 if column.lower_is_better else -1)
            if normalize == "minmax":
                finite = values[torch.isfinite(values)]
                low, high = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 0.0)
                values = (values - low) / (high - low) if high > low else torch.where(torch.isfinite(values), torch.zeros_like(values), values)
            elif normalize == "rank":
                finite = torch.isfinite(values)
                ranks = ((values[None, :] < values[:, None]) & finite[None, :]).sum(dim=1).double()
                values = torch.where(finite, ranks, torch.full_like(ranks, math.nan))
            total += weight * values
            used[column.name] = weight
        return Scores(TOTAL, total.float(), True, {"weights": used, "normalize": normalize})

    def ranking(self, total: Scores) -> list[int]:
        """Generation indices from best to worst by ``total`` (NaN last, ties in input order)."""
        self._check_total(total)
        values = total.values.tolist()
        sign = 1 if total.lower_is_better else -1
        return sorted(range(len(values)), key=lambda i: (not math.isfinite(values[i]), sign * values[i] if math.isfinite(values[i]) else 0.0, i))

    def _check_total(self, total: Scores | None, optional: bool = False) -> None:
        if total is None and optional:
            return
        _check_scores(total, "total")
        if len(total) != len(self.labels):
            raise ValueError(f"total has {len(total)} value(s) but the table has {len(self.labels)} generation(s)")

    # --- text, CSV, JSON ------------------------------------------------------------------------

    def records(self, total: Scores | None = None) -> list[dict]:
        self._check_total(total, optional=True)
        order = self.ranking(total) if total is not None else list(range(len(self.labels)))
        rows = []
        for rank, i in enumerate(order, 1):
            row = {"rank": rank if total is not None else None, "index": i, "generation": self.labels[i]}
            for column in self.columns:
                row[column.name] = _number(column.values[i])
            if total is not None:
                row[total.name] = _number(total.values[i])
            rows.append(row)
        return rows

    def to_json(self, total: Scores | None = None, extra: Mapping | None = None) -> dict:
        self._check_total(total, optional=True)
        if extra is not None and not isinstance(extra, Mapping):
            raise TypeError(f"extra must be a mapping of more JSON fields, got {describe(extra)}")
        columns = self.columns + ([total] if total is not None else [])
        return {
            "generations": list(self.labels),
            "scores": {
                c.name: {"values": [_number(v) for v in c.values], "lower_is_better": bool(c.lower_is_better),
                         "best": self.labels[b] if (b := self.best(c)) is not None else None, "details": _plain(c.details)}
                for c in columns
            },
            "ranking": [self.labels[i] for i in self.ranking(total)] if total is not None else None,
            "rows": self.records(total),
            **(dict(extra) if extra else {}),
        }

    def to_csv(self, total: Scores | None = None) -> str:
        self._check_total(total, optional=True)
        rows = self.records(total)
        out = io.StringIO()
        fields = ["rank", "index", "generation", *self.names] + ([total.name] if total is not None else [])
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return out.getvalue()

    def format_text(self, total: Scores | None = None, digits: int = 4) -> str:
        """A plain-text table, best-first when ``total`` is given; ``*`` marks each column's best.
        ``digits``: an int >= 1, the decimals shown."""
        self._check_total(total, optional=True)
        digits = check_int(digits, "digits", minimum=1)
        columns = self.columns + ([total] if total is not None else [])
        best = {c.name: self.best(c) for c in columns}
        label_width = max([len("generation"), *(len(label) for label in self.labels)]) + 2
        widths = [max(len(c.name), digits + 8) + 2 for c in columns]
        header = f"{'rank' if total is not None else '':<5}{'generation':<{label_width}}" + "".join(f"{c.name:>{w}}" for c, w in zip(columns, widths))
        lines = [header]
        for rank, i in enumerate(self.ranking(total) if total is not None else range(len(self.labels)), 1):
            cells = []
            for c, w in zip(columns, widths):
                mark = "*" if best[c.name] == i else " "
                cells.append(f"{_format(float(c.values[i]), digits) + mark:>{w}}")
            lines.append(f"{rank if total is not None else '':<5}{self.labels[i]:<{label_width}}" + "".join(cells))
        directions = ", ".join(f"{c.name} {'lower' if c.lower_is_better else 'higher'}" for c in columns)
        lines.append(f"* = best in its column ({directions} is better)")
        return "\n".join(lines)

    # --- pictures -------------------------------------------------------------------------------

    def render_table(self, images: torch.Tensor | None = None, total: Scores | None = None, thumb: int = 72) -> np.ndarray:
        """The table as a picture ``[H, W, 3]`` float32: rows best-first (with ``total``), a
        thumbnail of each generation when ``images`` (an IMAGE ``[B, H, W, C]``, one per generation) is
        given, best values on green; ``thumb``: the thumbnails' size in px, an int >= 1."""
        from PIL import Image, ImageDraw  # noqa: PLC0415

        self._check_total(total, optional=True)
        if images is not None:
            check_image(images, "images")
            if images.shape[0] != len(self.labels):
                raise ValueError(f"images must hold one image per generation ({len(self.labels)}), got batch {images.shape[0]}")
        thumb = check_int(thumb, "thumb", minimum=1)

        columns = self.columns + ([total] if total is not None else [])
        best = {c.name: self.best(c) for c in columns}
        face, bold = font(14), font(15)
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_w = int(max([probe.textlength("generation", font=face), *(probe.textlength(s, font=face) for s in self.labels)])) + 24
        col_w = [int(max(probe.textlength(c.name, font=face), probe.textlength("-0.000000", font=face))) + 28 for c in columns]
        show_thumbs = images is not None
        row_h = thumb + 8 if show_thumbs else 28
        thumb_w = thumb + 12 if show_thumbs else 0
        rank_w = 52
        directions = "; ".join(f"{c.name}: {'lower' if c.lower_is_better else 'higher'} is better" for c in columns)
        footnote = f"* best  ({directions})"
        width = max(rank_w + thumb_w + label_w + sum(col_w) + 8, int(probe.textlength(footnote, font=font(12))) + 16)
        height = 34 + row_h * len(self.labels) + 30
        image = Image.new("RGB", (width, height), BACKGROUND)
        draw = ImageDraw.Draw(image)
        x = rank_w + thumb_w
        draw.text((8, 10), "rank" if total is not None else "#", fill=INK, font=bold)
        draw.text((x + 6, 10), "generation", fill=INK, font=bold)
        xs = []
        x += label_w
        for c, w in zip(columns, col_w):
            xs.append(x)
            draw.text((x + w - 8 - probe.textlength(c.name, font=bold), 10), c.name, fill=INK, font=bold)
            x += w
        draw.line([(0, 32), (width, 32)], fill=INK)
        order = self.ranking(total) if total is not None else list(range(len(self.labels)))
        for row, i in enumerate(order):
            top = 34 + row * row_h
            if row % 2:
                draw.rectangle([0, top, width, top + row_h - 1], fill=(243, 243, 243))
            middle = top + row_h // 2 - 8
            draw.text((8, middle), str(row + 1) if total is not None else str(i + 1), fill=INK, font=face)
            if show_thumbs:
                picture = images[i].detach().float().cpu()
                picture = picture.expand(*picture.shape[:2], 3) if picture.shape[-1] == 1 else picture[..., :3]
                tile = Image.fromarray((picture.numpy() * 255).round().astype(np.uint8))
                tile.thumbnail((thumb, thumb))
                image.paste(tile, (rank_w + (thumb - tile.width) // 2, top + (row_h - tile.height) // 2))
            draw.text((rank_w + thumb_w + 6, middle), self.labels[i], fill=INK, font=face)
            for c, w, x0 in zip(columns, col_w, xs):
                text = _format(float(c.values[i]), 4)
                if best[c.name] == i:
                    draw.rectangle([x0 + 4, top + 3, x0 + w - 2, top + row_h - 4], fill=BEST_FILL)
                    text += " *"
                draw.text((x0 + w - 8 - probe.textlength(text, font=face), middle), text, fill=INK, font=face)
        draw.text((8, height - 24), footnote, fill=INK, font=font(12))
        return np.asarray(image, dtype=np.float32) / 255.0

    def render_chart(self, total: Scores | None = None, panel: tuple[int, int] = (340, 230), per_row: int = 3) -> np.ndarray:
        """One bar chart per score (and the total): a bar per generation, numbered as in the table's
        input order, the best bar in green. ``[H, W, 3]`` float32. ``panel``: each chart's (width,
        height) in px, ints of at least 100; ``per_row``: an int >= 1."""
        self._check_total(total, optional=True)
        if not isinstance(panel, (tuple, list)) or len(panel) != 2:
            raise TypeError(f"panel must be (width, height) in px, got {describe(panel)}")
        panel = (check_int(panel[0], "panel width", minimum=100), check_int(panel[1], "panel height", minimum=100))
        per_row = check_int(per_row, "per_row", minimum=1)
        columns = self.columns + ([total] if total is not None else [])
        panels = []
        count = len(self.labels)
        for c in columns:
            values = [float(v) for v in c.values]
            finite = [v for v in values if math.isfinite(v)] or [0.0]
            low, high = min(0.0, *finite), max(0.0, *finite)
            if high <= low:
                high = low + 1.0
            high, low = high + 0.06 * (high - low) * (high > 0), low - 0.06 * (high - low) * (low < 0)  # headroom above the tallest bar
            ticks = nice_ticks(low, high, 5)
            chart = Chart(
                panel[0], panel[1], (0.4, count + 0.6), (min(low, ticks[0]), max(high, ticks[-1])),
                title=f"{c.name} ({'lower' if c.lower_is_better else 'higher'} is better)", x_label="generation",
                x_ticks=list(range(1, count + 1)), x_tick_label=lambda v: f"{int(round(v))}", y_ticks=ticks,
                y_tick_label=lambda v: _format(v, 3), margins=(34, 12, 40, 64),
            )
            best = self.best(c)
            for i, v in enumerate(values):
                colour = BEST_BAR if i == best else (TARGET if c.name != TOTAL else PREDICTION)
                chart.bar(i + 1 - 0.35, i + 1 + 0.35, v, colour)
            panels.append(chart.render())
        rows = []
        for start in range(0, len(panels), per_row):
            row = panels[start : start + per_row]
            while len(row) < per_row and len(panels) > per_row:
                row.append(np.full_like(panels[0], np.asarray(BACKGROUND, dtype=np.float32) / 255.0))
            rows.append(np.concatenate(row, axis=1))
        legend = _legend_strip(rows[0].shape[1], self.labels)
        return np.concatenate([*rows, legend], axis=0)


def _legend_strip(width: int, labels: Sequence[str]) -> np.ndarray:
    from PIL import Image, ImageDraw  # noqa: PLC0415

    face = font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries = [f"{i + 1} = {label}" for i, label in enumerate(labels)]
    lines, line = [], ""
    for entry in entries:
        candidate = f"{line}    {entry}" if line else entry
        if line and probe.textlength(candidate, font=face) > width - 16:
            lines.append(line)
            line = entry
        else:
            line = candidate
    lines.append(line)
    image = Image.new("RGB", (width, 10 + 16 * len(lines)), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.line([(0, 0), (width, 0)], fill=GRID)
    for k, text in enumerate(lines):
        draw.text((8, 5 + 16 * k), text, fill=INK, font=face)
    return np.asarray(image, dtype=np.float32) / 255.0


def _number(value) -> float | None:
    number = float(value)
    return float(f"{number:.7g}") if math.isfinite(number) else None


def _format(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value != 0 and (abs(value) >= 10 ** (digits + 2) or abs(value) < 10 ** (-digits)):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _check_scores(column: object, name: str) -> Scores:
    """An EDITLOSS_SCORES (any object with a name and a values tensor, as the pack's own copy of the
    type, which ComfyUI loads under another module name, makes)."""
    if not isinstance(getattr(column, "values", None), torch.Tensor) or not isinstance(getattr(column, "name", None), str):
        raise TypeError(f"{name} must be EDITLOSS_SCORES (from a loss node's 'scores' output), got {describe(column)}")
    return column


def table_json_text(data: Mapping) -> str:
    """``data`` as indented JSON text ending in a new line. Strict JSON: NaN and Inf (which the
    table writes as null) and values that are not JSON are refused, not written as ``NaN``."""
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping (a JSON object), got {describe(data)}")
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"data must hold JSON values only (finite numbers, strings, lists, mappings): {exc}") from None

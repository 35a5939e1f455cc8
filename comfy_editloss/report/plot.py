"""A small line-chart renderer on PIL: axes, ticks, lines, markers, shaded spans and a legend, drawn
without a display into an RGB array, for the pictures nodes return as ComfyUI IMAGEs.

It does only what the pack's pictures need (no dependency on matplotlib, which ComfyUI does not
ship): linear or logarithmic x, linear y, tick labels from a function (e.g. frequency shown as a
period in pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Colour = tuple[int, int, int]

BACKGROUND: Colour = (250, 250, 250)
INK: Colour = (40, 40, 40)
GRID: Colour = (222, 222, 222)
TARGET: Colour = (31, 119, 180)  # blue
PREDICTION: Colour = (230, 110, 20)  # orange
BAND: Colour = (120, 190, 120)
SECOND: Colour = (148, 103, 189)  # purple


def font(size: int = 13):
    from PIL import ImageFont  # noqa: PLC0415

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 5 x 10^k steps)."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2, 5 x 10^k values within [low, high]."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for m in (1, 2, 5):
            value = m * 10.0**exponent
            if low * (1 - 1e-9) <= value <= high * (1 + 1e-9):
                ticks.append(value)
    return ticks


@dataclass
class Chart:
    """A chart of ``width x height`` px with its data ranges; draw on it, then :meth:`render`."""

    width: int
    height: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    x_log: bool = False
    x_ticks: Sequence[float] | None = None
    x_tick_label: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    y_ticks: Sequence[float] | None = None
    y_tick_label: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    margins: tuple[int, int, int, int] = (44, 16, 44, 56)  # top, right, bottom, left

    def __post_init__(self) -> None:
        from PIL import Image, ImageDraw  # noqa: PLC0415

        self.image = Image.new("RGB", (self.width, self.height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.font = font(13)
        self.small = font(11)
        top, right, bottom, left = self.margins
        self.box = (left, top, self.width - right, self.height - bottom)
        self.legend_items: list[tuple[str, Colour, bool]] = []
        self._axes()

    # -- coordinates ------------------------------------------------------------------------------

    def _fx(self, x: float) -> float:
        low, high = self.x_range
        if self.x_log:
            x, low, high = math.log(max(x, 1e-300)), math.log(low), math.log(high)
        return self.box[0] + (x - low) / (high - low) * (self.box[2] - self.box[0])

    def _fy(self, y: float) -> float:
        low, high = self.y_range
        return self.box[3] - (y - low) / (high - low) * (self.box[3] - self.box[1])

    def _inside_x(self, x: float) -> bool:
        return self.x_range[0] <= x <= self.x_range[1]

    # -- furniture --------------------------------------------------------------------------------

    def _axes(self) -> None:
        left, top, right, bottom = self.box
        x_ticks = self.x_ticks if self.x_ticks is not None else (log_ticks(*self.x_range) if self.x_log else nice_ticks(*self.x_range))
        y_ticks = self.y_ticks if self.y_ticks is not None else nice_ticks(*self.y_range)
        for x in x_ticks:
            if self._inside_x(x):
                px = self._fx(x)
                self.draw.line([(px, top), (px, bottom)], fill=GRID)
                label = self.x_tick_label(x)
                w = self.draw.textlength(label, font=self.small)
                self.draw.text((px - w / 2, bottom + 4), label, fill=INK, font=self.small)
        for y in y_ticks:
            if self.y_range[0] <= y <= self.y_range[1]:
                py = self._fy(y)
                self.draw.line([(left, py), (right, py)], fill=GRID)
                label = self.y_tick_label(y)
                w = self.draw.textlength(label, font=self.small)
                self.draw.text((left - 6 - w, py - 6), label, fill=INK, font=self.small)
        self.draw.rectangle([left, top, right, bottom], outline=INK)
        if self.title:
            self.draw.text((left, 6), self.title, fill=INK, font=self.font)
        if self.x_label:
            w = self.draw.textlength(self.x_label, font=self.font)
            self.draw.text(((left + right) / 2 - w / 2, bottom + 22), self.x_label, fill=INK, font=self.font)
        if self.y_label:
            self.draw.text((4, top - 15), self.y_label, fill=INK, font=self.small)

    # -- marks ------------------------------------------------------------------------------------

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: Colour, label: str = "", width: int = 2) -> None:
        """A polyline through the finite points inside the x range (y is clipped to the box)."""
        points = []
        low, high = self.y_range
        for x, y in zip(xs, ys):
            if math.isfinite(x) and math.isfinite(y) and self._inside_x(x):
                points.append((self._fx(x), self._fy(min(max(y, low), high))))
        if len(points) >= 2:
            self.draw.line(points, fill=colour, width=width, joint="curve")
        if label:
            self.legend_items.append((label, colour, False))

    def vline(
        self, x: float, colour: Colour, label: str = "", dashed: bool = False, text: str = "", text_row: int = 0, text_left: bool = False
    ) -> None:
        """A vertical line at ``x`` with an optional note next to its top (right of it, or left)."""
        if not (math.isfinite(x) and self._inside_x(x)):
            return
        px = self._fx(x)
        top, bottom = self.box[1], self.box[3]
        if dashed:
            y = top
            while y < bottom:
                self.draw.line([(px, y), (px, min(y + 6, bottom))], fill=colour, width=2)
                y += 10
        else:
            self.draw.line([(px, top), (px, bottom)], fill=colour, width=2)
        if text:
            w = self.draw.textlength(text, font=self.small)
            fits_right = px + 4 + w < self.box[2]
            fits_left = px - 4 - w > self.box[0]
            tx = px - 4 - w if (text_left and fits_left) or not fits_right else px + 4
            self.draw.text((tx, top + 4 + 14 * text_row), text, fill=colour, font=self.small)
        if label:
            self.legend_items.append((label, colour, dashed))

    def marker(self, x: float, y: float, colour: Colour, radius: int = 4) -> None:
        if math.isfinite(x) and math.isfinite(y) and self._inside_x(x):
            px, py = self._fx(x), self._fy(min(max(y, self.y_range[0]), self.y_range[1]))
            self.draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=colour, outline=INK)

    def span(self, x0: float, x1: float, colour: Colour, alpha: int = 60, label: str = "") -> None:
        """A shaded vertical span between ``x0`` and ``x1`` (clipped to the x range)."""
        x0, x1 = max(min(x0, x1), self.x_range[0]), min(max(x0, x1), self.x_range[1])
        if x1 <= x0:
            return
        self.draw.rectangle([self._fx(x0), self.box[1] + 1, self._fx(x1), self.box[3] - 1], fill=colour + (alpha,))
        if label:
            self.legend_items.append((label, colour, False))

    def bar(self, x0: float, x1: float, y: float, colour: Colour, label: str = "") -> None:
        """A filled bar from the x axis's baseline (y = 0, or the range's bottom) up to ``y``."""
        base = min(max(0.0, self.y_range[0]), self.y_range[1])
        if math.isfinite(y):
            top = min(max(y, self.y_range[0]), self.y_range[1])
            y0, y1 = sorted((self._fy(base), self._fy(top)))
            self.draw.rectangle([self._fx(x0), y0, self._fx(x1), y1], fill=colour, outline=INK)
        if label and all(text != label for text, _, _ in self.legend_items):
            self.legend_items.append((label, colour, False))

    def legend(self) -> None:
        right = self.box[2] - 6
        y = self.box[1] + 6
        width = max((self.draw.textlength(t, font=self.small) for t, _, _ in self.legend_items), default=0) + 34
        if not self.legend_items:
            return
        self.draw.rectangle([right - width, y - 3, right, y + 15 * len(self.legend_items)], fill=(255, 255, 255, 215), outline=GRID)
        for text, colour, dashed in self.legend_items:
            if dashed:
                for dx in (0, 10):
                    self.draw.line([(right - width + 4 + dx, y + 6), (right - width + 10 + dx, y + 6)], fill=colour, width=2)
            else:
                self.draw.line([(right - width + 4, y + 6), (right - width + 24, y + 6)], fill=colour, width=3)
            self.draw.text((right - width + 30, y), text, fill=INK, font=self.small)
            y += 15

    def render(self) -> np.ndarray:
        """``[height, width, 3]`` float32 in [0, 1]."""
        self.legend()
        return np.asarray(self.image, dtype=np.float32) / 255.0


def text_panel(width: int, height: int, lines: Sequence[str], size: int = 13) -> np.ndarray:
    """A panel of text lines, ``[height, width, 3]`` float32."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    face = font(size)
    for i, line in enumerate(lines):
        draw.text((8, 6 + i * (size + 4)), line, fill=INK, font=face)
    return np.asarray(image, dtype=np.float32) / 255.0

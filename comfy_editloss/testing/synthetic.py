"""Generated before/after edit scenes, for measuring encoders and losses and for sample data.

A scene is a textured background with one object (the source, "before") replaced by another object
of a different shape and colour at the same place (the target, "after"). From it come the typical
Kontext failures: the unchanged source (no edit), the new object painted over the old one with the
old one still showing (overlay), the new object squashed or sheared (distorted), and, as a harmless
variation, the target shifted by a couple of pixels. All images are ComfyUI IMAGE tensors
``[1, H, W, 3]`` in [0, 1]; masks are ``[1, H, W]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SHAPES = ("ellipse", "rectangle", "triangle", "cross", "ring", "star")


@dataclass
class EditScene:
    before: torch.Tensor
    after: torch.Tensor
    overlay: torch.Tensor
    distorted: torch.Tensor
    shifted: torch.Tensor
    edit_mask: torch.Tensor
    source_shape: str
    target_shape: str

    def images(self) -> dict[str, torch.Tensor]:
        return {"after": self.after, "overlay": self.overlay, "no_edit": self.before, "distorted": self.distorted, "shifted": self.shifted}


def _grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.linspace(-1, 1, height).view(-1, 1).expand(height, width)
    xs = torch.linspace(-1, 1, width).view(1, -1).expand(height, width)
    return ys, xs


def shape_mask(shape: str, height: int, width: int, center: tuple[float, float], size: tuple[float, float], angle: float = 0.0) -> torch.Tensor:
    """A soft-edged mask ``[H, W]`` in [0, 1] of a shape; center and size in [-1, 1] units."""
    ys, xs = _grid(height, width)
    cy, cx = center
    sy, sx = size
    cos, sin = math.cos(angle), math.sin(angle)
    u = ((xs - cx) * cos + (ys - cy) * sin) / sx
    v = (-(xs - cx) * sin + (ys - cy) * cos) / sy
    edge = 2.0 / min(height, width) / min(sx, sy)  # about one pixel of anti-aliasing
    if shape == "ellipse":
        inside = 1 - torch.sqrt(u**2 + v**2)
    elif shape == "rectangle":
        inside = 1 - torch.maximum(u.abs(), v.abs())
    elif shape == "triangle":
        inside = torch.minimum(1 - v, torch.minimum(v + 1 - 2 * u.abs(), torch.ones_like(u))) / 2
    elif shape == "cross":
        inside = torch.maximum(torch.minimum(0.35 - u.abs(), 1 - v.abs()), torch.minimum(0.35 - v.abs(), 1 - u.abs()))
    elif shape == "ring":
        r = torch.sqrt(u**2 + v**2)
        inside = torch.minimum(1 - r, r - 0.55)
    elif shape == "star":
        theta = torch.atan2(v, u)
        r = torch.sqrt(u**2 + v**2)
        inside = (0.55 + 0.45 * torch.cos(5 * theta)) - r
    else:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    return torch.clamp(inside / edge + 0.5, 0, 1)


def _background(height: int, width: int, g: torch.Generator) -> torch.Tensor:
    """Smooth colour gradients plus low-contrast texture: ``[H, W, 3]``."""
    ys, xs = _grid(height, width)
    base = torch.rand(3, generator=g) * 0.5 + 0.25
    slope = (torch.rand(2, 3, generator=g) - 0.5) * 0.3
    image = base + ys[..., None] * slope[0] + xs[..., None] * slope[1]
    noise = torch.rand(1, 3, max(2, height // 8), max(2, width // 8), generator=g)
    texture = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False)[0].permute(1, 2, 0)
    return (image + (texture - 0.5) * 0.12).clamp(0, 1)


def _paint(image: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor, g: torch.Generator, stripes: bool) -> torch.Tensor:
    height, width = mask.shape
    ys, xs = _grid(height, width)
    shade = 1 + 0.15 * (ys + xs)[..., None]
    fill = colour * shade
    if stripes:
        fill = fill * (0.8 + 0.2 * torch.sign(torch.sin(xs * 18 + ys * 6))[..., None])
    fill = fill.clamp(0, 1)
    m = mask[..., None]
    return image * (1 - m) + fill * m


def shift_image(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``[H, W, C]`` moved by (dy, dx) pixels, the uncovered border repeating the edge."""
    padded = F.pad(image.permute(2, 0, 1)[None], (abs(dx), abs(dx), abs(dy), abs(dy)), mode="replicate")[0]
    height, width = image.shape[:2]
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top : top + height, left : left + width].permute(1, 2, 0)


def make_edit_scene(seed: int, size: tuple[int, int] = (128, 128), shift: int = 2) -> EditScene:
    """One random scene; ``seed`` fixes everything."""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    background = _background(height, width, g)
    first = int(torch.randint(0, len(SHAPES), (1,), generator=g))
    second = (first + 1 + int(torch.randint(0, len(SHAPES) - 1, (1,), generator=g))) % len(SHAPES)
    center = tuple((torch.rand(2, generator=g) - 0.5) * 0.5)
    angle = float(torch.rand(1, generator=g)) * 0.6 - 0.3
    hue = torch.rand(1, generator=g)
    source_colour = torch.tensor([0.8, 0.25, 0.2]).roll(int(hue * 3)) * (0.7 + 0.3 * torch.rand(3, generator=g))
    target_colour = torch.tensor([0.2, 0.35, 0.85]).roll(int(hue * 3)) * (0.7 + 0.3 * torch.rand(3, generator=g))
    for _ in range(50):
        source_size = tuple(0.28 + torch.rand(2, generator=g) * 0.18)
        target_size = tuple(0.28 + torch.rand(2, generator=g) * 0.18)
        source_mask = shape_mask(SHAPES[first], height, width, center, source_size, angle)
        target_mask = shape_mask(SHAPES[second], height, width, center, target_size, -angle)
        before = _paint(background, source_mask, source_colour, g, stripes=True)
        after = _paint(background, target_mask, target_colour, g, stripes=False)
        # Overlay: the new object painted over the old one, which still shows around it.
        overlay = _paint(before, target_mask, target_colour, g, stripes=False)
        visible = float(((overlay - after).abs().sum(-1) > 0.2).sum())
        if visible >= 0.25 * float((source_mask > 0.5).sum()):
            break  # a clear overlay: at least a quarter of the old object still shows
    # Distorted: the new object squashed in one direction and stretched in the other.
    squash = (target_size[0] * 0.55, target_size[1] * 1.45) if float(torch.rand(1, generator=g)) < 0.5 else (target_size[0] * 1.45, target_size[1] * 0.55)
    distorted_mask = shape_mask(SHAPES[second], height, width, center, squash, -angle + 0.5)
    distorted = _paint(background, distorted_mask, target_colour, g, stripes=False)
    shifted = shift_image(after, shift, shift)
    edit = ((source_mask + target_mask + distorted_mask) > 0.05).float()
    edit = F.max_pool2d(edit[None, None], kernel_size=9, stride=1, padding=4)[0, 0]
    as_image = lambda x: x[None].contiguous()  # noqa: E731
    return EditScene(
        as_image(before), as_image(after), as_image(overlay), as_image(distorted), as_image(shifted), edit[None],
        SHAPES[first], SHAPES[second],
    )


# ---------------------------------------------------------------------------------------------
# Periodic materials, for the texture-scale losses
# ---------------------------------------------------------------------------------------------

TEXTURE_KINDS = ("sine", "stripes", "grid", "checker", "bricks")


def _soft_line(distance: torch.Tensor, width: torch.Tensor | float, softness: float = 0.75) -> torch.Tensor:
    """1 on a line of ``width`` px around distance 0, falling to 0 over about ``softness`` px."""
    return torch.sigmoid((width / 2 - distance) / softness)


def _fold(u: torch.Tensor, period: torch.Tensor | float) -> torch.Tensor:
    """Distance from ``u`` to the nearest multiple of ``period``."""
    d = torch.remainder(u, period)
    return torch.minimum(d, period - d)


def make_texture(
    kind: str,
    period: float | torch.Tensor,
    angle: float = 0.0,
    size: tuple[int, int] = (512, 512),
    noise: float = 0.0,
    seed: int = 0,
    offset: tuple[float, float] = (0.0, 0.0),
    supersample: int = 2,
) -> torch.Tensor:
    """A grey periodic material ``[H, W]`` (float32, about [0, 1]) whose dominant period is ``period`` px.

    ``period`` is the wavelength of the pattern's strongest Fourier component, what
    :func:`comfy_editloss.losses.estimate_texture_period` measures, along the direction ``angle``
    (degrees, counter-clockwise on screen from the x axis):

    * ``"sine"``: a sinusoid;
    * ``"stripes"``: a square wave with soft edges (planks, half light, half dark);
    * ``"grid"``: square tiles of side ``period`` with grout lines ``period / 8`` wide;
    * ``"checker"``: a checkerboard of cells ``period / sqrt(2)`` (its strongest components are the
      diagonal ones, of wavelength ``period``);
    * ``"bricks"``: courses ``period`` high of bricks ``2 * period`` long, staggered by a brick's
      half, with mortar ``period / 8`` wide; the courses run along ``angle``, so the pattern repeats
      every ``period`` px across them (at ``angle + 90``).

    ``offset`` (px, ``(dy, dx)``) translates the pattern; ``noise`` adds Gaussian noise of that
    standard deviation (seeded). The pattern is rendered at ``supersample`` times the resolution and
    averaged down, so it is band-limited like a photograph. A tensor ``period`` (``requires_grad``)
    gives an image differentiable in the period.
    """
    if kind not in TEXTURE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, TEXTURE_KINDS))}, got {kind!r}")
    height, width = size
    ss = supersample
    period = period.to(torch.float64) if isinstance(period, torch.Tensor) else float(period)
    ys = (torch.arange(height * ss, dtype=torch.float64) + 0.5) / ss - offset[0]
    xs = (torch.arange(width * ss, dtype=torch.float64) + 0.5) / ss - offset[1]
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    t = math.radians(angle)
    u = x * math.cos(t) - y * math.sin(t)  # along the direction of repetition
    v = x * math.sin(t) + y * math.cos(t)
    if kind == "sine":
        image = 0.5 + 0.4 * torch.cos(2 * math.pi * u / period)
    elif kind == "stripes":
        image = 0.2 + 0.6 * _soft_line(_fold(u - period / 2, period), period / 2)
    elif kind == "grid":
        line = torch.maximum(_soft_line(_fold(u, period), period / 8), _soft_line(_fold(v, period), period / 8))
        image = 0.75 - 0.5 * line
    elif kind == "checker":
        cell = period / math.sqrt(2)
        image = 0.5 + 0.35 * torch.tanh(3 * torch.sin(math.pi * u / cell) * torch.sin(math.pi * v / cell))
    else:  # bricks
        course = torch.floor(v / period)
        shifted = u + torch.remainder(course, 2) * period
        line = torch.maximum(_soft_line(_fold(v, period), period / 8), _soft_line(_fold(shifted, 2 * period), period / 8))
        image = 0.7 - 0.45 * line
    image = F.avg_pool2d(image[None, None], ss)[0, 0]
    if noise:
        g = torch.Generator().manual_seed(seed)
        image = image + noise * torch.randn(image.shape, generator=g, dtype=image.dtype)
    return image.to(torch.float32)


def colour_texture(grey: torch.Tensor, dark: tuple[float, float, float], light: tuple[float, float, float]) -> torch.Tensor:
    """A grey texture ``[H, W]`` mapped between two colours -> ComfyUI IMAGE ``[1, H, W, 3]`` in [0, 1]."""
    dark_t = torch.tensor(dark, dtype=grey.dtype)
    light_t = torch.tensor(light, dtype=grey.dtype)
    return (dark_t + grey.clamp(0, 1)[..., None] * (light_t - dark_t))[None].clamp(0, 1)

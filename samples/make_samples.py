"""Write the shipped sample edit sets: ``python3 samples/make_samples.py`` (deterministic; the tests
check that the files in this folder equal what it writes).

Each folder is one edit set in the layout that ``python -m comfy_editloss score`` and the workflows
read (see the README):

* ``object_replacement/``: a striped object replaced by a plain one of another shape; generations
  ``correct`` (the target, re-rendered with a little noise), ``no_edit`` (the source), ``distorted``
  (the new object squashed and turned) and ``overlay`` (the new object painted over the old one);
* ``material_scale/``: a wall whose planks become bricks 24 px high; generations ``right_scale``
  (another rendering of the same bricks) and ``wrong_scale`` (bricks 40 px high); ``mask.png`` is
  the wall;
* ``object_insertion/``: a box inserted into a room; ``target_depth.npy`` is the intended depth in
  metres, ``generations_depth.npy`` the generations' relative disparity (what a depth estimator
  gives: unknown scale and shift) for ``right_depth`` and ``wrong_depth`` (the box 0.6 m too far);
  ``mask.png`` is the box.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from comfy_editloss.testing.synthetic import colour_texture, make_edit_scene, make_texture  # noqa: E402

NOISE = 0.012


def _noisy(image: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (image + NOISE * torch.randn(image.shape, generator=g)).clamp(0, 1)


def _png(image: torch.Tensor | np.ndarray) -> "object":
    from PIL import Image  # noqa: PLC0415

    array = image[0].numpy() if isinstance(image, torch.Tensor) else image
    if array.ndim == 2:
        array = np.stack([array] * 3, -1)
    return Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))


def object_replacement() -> dict[str, object]:
    scene = make_edit_scene(11, (256, 256))
    return {
        "before.png": _png(scene.before),
        "after.png": _png(scene.after),
        "generations/correct.png": _png(_noisy(scene.after, 1)),
        "generations/no_edit.png": _png(_noisy(scene.before, 2)),
        "generations/distorted.png": _png(_noisy(scene.distorted, 3)),
        "generations/overlay.png": _png(_noisy(scene.overlay, 4)),
    }


def material_scale() -> dict[str, object]:
    size = (224, 256)
    mask = np.zeros(size, dtype=np.float32)
    mask[12:212, 16:240] = 1
    floor = colour_texture(make_texture("sine", 60, 90, size=size, noise=0.02, seed=5), (0.3, 0.3, 0.32), (0.5, 0.5, 0.52))

    def wall(material: torch.Tensor) -> torch.Tensor:
        m = torch.from_numpy(mask)[None, ..., None]
        return floor * (1 - m) + material * m

    planks = colour_texture(make_texture("stripes", 30, 90, size=size, noise=0.03, seed=6), (0.45, 0.32, 0.2), (0.7, 0.55, 0.35))
    bricks = lambda period, seed, offset, dark, light: colour_texture(  # noqa: E731
        make_texture("bricks", period, 0, size=size, noise=0.04, seed=seed, offset=offset), dark, light
    )
    return {
        "before.png": _png(wall(planks)),
        "after.png": _png(wall(bricks(24, 1, (0, 0), (0.45, 0.18, 0.12), (0.85, 0.55, 0.4)))),
        "mask.png": _png(mask),
        "generations/right_scale.png": _png(wall(bricks(24, 2, (7, 11), (0.4, 0.2, 0.15), (0.8, 0.6, 0.45)))),
        "generations/wrong_scale.png": _png(wall(bricks(40, 3, (5, 3), (0.42, 0.2, 0.14), (0.82, 0.58, 0.42)))),
    }


def object_insertion() -> dict[str, object]:
    h, w = 144, 176
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    room = 2.0 + 3.0 * (1 - yy) + 0.3 * np.sin(8 * xx)  # the floor comes nearer towards the bottom
    box = np.zeros((h, w))
    box[70:120, 60:120] = 1
    box_depth = 2.4

    def render(depth: np.ndarray, with_box: bool) -> np.ndarray:
        shade = np.clip(1.15 - depth / 6.0, 0, 1)
        image = np.stack([shade * 0.85, shade * 0.8, shade * 0.7], -1)
        if with_box:
            colour = np.array([0.75, 0.35, 0.2]) * (1.1 - 0.25 * yy[..., None])
            image = image * (1 - box[..., None]) + colour * box[..., None]
        return image

    with_box = room * (1 - box) + box_depth * box
    too_far = room * (1 - box) + (box_depth + 0.6) * box
    disparity = lambda depth: (0.7 / depth + 0.02).astype(np.float32)  # noqa: E731 - scale and shift unknown to the loss
    return {
        "before.png": _png(render(room, False)),
        "after.png": _png(render(with_box, True)),
        "mask.png": _png(box),
        "target_depth.npy": with_box.astype(np.float32),
        "generations_depth.npy": np.stack([disparity(with_box), disparity(too_far)])[:, None],
        "generations/right_depth.png": _png(render(with_box, True)),
        "generations/wrong_depth.png": _png(render(too_far, True) * 0.97),
    }


SETS = {"object_replacement": object_replacement, "material_scale": material_scale, "object_insertion": object_insertion}


def write(root: Path = HERE) -> list[Path]:
    written = []
    for name, make in SETS.items():
        for relative, content in make().items():
            path = root / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, np.ndarray):
                np.save(path, content)
            else:
                content.save(path, optimize=True)
            written.append(path)
    return written


def main() -> int:
    for path in write():
        print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The shipped sample edit sets: small, and exactly what samples/make_samples.py writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _script():
    spec = importlib.util.spec_from_file_location("editloss_make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_samples_are_what_the_script_writes(tmp_path):
    written = _script().write(tmp_path)
    fresh = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    shipped = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".png", ".npy"))
    assert fresh == shipped
    for relative in fresh:
        if relative.endswith(".npy"):
            assert np.array_equal(np.load(tmp_path / relative), np.load(SAMPLES / relative)), relative
        else:  # compare pixels: PNG bytes differ between zlib builds
            with Image.open(tmp_path / relative) as a, Image.open(SAMPLES / relative) as b:
                assert np.array_equal(np.asarray(a), np.asarray(b)), f"{relative}: run python3 samples/make_samples.py"


def test_samples_are_small_and_follow_the_edit_set_layout():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".png", ".npy"))
    assert total < 2 * 1024 * 1024
    for folder in ("object_replacement", "material_scale", "object_insertion"):
        assert (SAMPLES / folder / "before.png").is_file() and (SAMPLES / folder / "after.png").is_file()
        assert len(list((SAMPLES / folder / "generations").glob("*.png"))) >= 2
    depth = np.load(SAMPLES / "object_insertion" / "generations_depth.npy")
    assert depth.shape[0] == 2 and depth.dtype == np.float32

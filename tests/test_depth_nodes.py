"""Depth files, the EDITLOSS_DEPTH type and the depth nodes (loaded as ComfyUI loads the pack)."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
import torch
from PIL import Image

from comfy_editloss import losses as L
from comfy_editloss.io.depth_files import read_depth_file
from comfy_editloss.graph.host import HostFolders, using_folders
from comfy_editloss.types import Depth


def _depth_map(h=24, w=32):
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    return (2.0 + 3.0 * yy + 0.25 * np.sin(9 * xx)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def test_16_bit_png_keeps_the_raw_values(tmp_path):
    millimetres = (_depth_map() * 1000).round().astype(np.uint16)
    Image.fromarray(millimetres).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    assert np.array_equal(read_depth_file(tmp_path / "d.png"), millimetres.astype(np.float32))


def test_npy_npz_pfm_and_exr_round_trip(tmp_path):
    import OpenEXR

    depth = _depth_map()
    depth[3, 4] = np.nan
    np.save(tmp_path / "a.npy", depth[None])
    np.savez(tmp_path / "b.npz", depth=depth, other=np.zeros(3))
    np.savez(tmp_path / "c.npz", depth[..., None])
    # PFM: little-endian (negative scale), rows stored bottom to top.
    with open(tmp_path / "d.pfm", "wb") as f:
        f.write(b"Pf\n%d %d\n-1.0\n" % (depth.shape[1], depth.shape[0]))
        f.write(np.flipud(depth).astype("<f4").tobytes())
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Z": depth}).write(str(tmp_path / "e.exr"))
    rgb = np.stack([depth, depth * 0, depth * 0], -1).astype(np.float16)
    OpenEXR.File({"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}, {"RGB": rgb}).write(str(tmp_path / "f.exr"))
    for name in ("a.npy", "b.npz", "c.npz", "d.pfm", "e.exr"):
        np.testing.assert_array_equal(read_depth_file(tmp_path / name), depth, err_msg=name)
    np.testing.assert_allclose(read_depth_file(tmp_path / "f.exr"), depth, rtol=1e-3)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: np.save(p / "x.npy", np.zeros((2, 3, 4))), r"^x\.npy: a depth map must be 2-D \(\[H, W\], \[1, H, W\] or \[H, W, 1\]\), got shape \(2, 3, 4\)$"),
        (lambda p: np.savez(p / "x.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2))), r"^x\.npz: no array named 'depth' or 'disparity' and not exactly one array \(found \['a', 'b'\]\)$"),
        (lambda p: Image.new("RGB", (4, 4)).save(p / "x.png"), r"^x\.png: a depth PNG must be one channel \(16-bit or 8-bit grey\), got mode RGB"),
        (lambda p: (p / "x.pfm").write_bytes(b"P6\n4 4\n255\n"), r"^x\.pfm: not a PFM file"),
        (lambda p: (p / "x.tif").write_bytes(b"II*"), r"^x\.tif: unsupported depth file type '\.tif'; use one of \.png, \.npy, \.npz, \.pfm, \.exr$"),
        (lambda p: (p / "x.npy").write_bytes(b""), r"^x\.npy: cannot read the \.npy file: No data left in file$"),
        (lambda p: (p / "x.npz").write_text("not a zip"), r"^x\.npz: cannot read the \.npz file: This file contains pickled"),
        (lambda p: np.savez(p / "x.npz", depth=np.zeros((4, 4))) or (p / "x.npz").write_bytes((p / "x.npz").read_bytes()[:100]),
         r"^x\.npz: cannot read the \.npz file: File is not a zip file$"),
        (lambda p: np.save(p / "x.npy", np.zeros((4, 4))) or (p / "x.npy").rename(p / "x.npz"), r"^x\.npz: the file holds a single \.npy array; name it \.npy$"),
        (lambda p: np.save(p / "x.npy", np.zeros((0, 4))), r"^x\.npy: the depth map is empty \(shape \(0, 4\)\)$"),
        (lambda p: np.save(p / "x.npy", np.full((2, 2), 1e300)), r"^x\.npy: depth values up to 1e\+300 do not fit float32"),
        (lambda p: (p / "x.png").write_text("not a png"), r"^x\.png: cannot read the PNG: cannot identify image file"),
        (lambda p: (p / "x.pfm").write_bytes(b"Pf\n2 2\nabc\n" + bytes(16)), r"^x\.pfm: bad PFM scale line b'abc\\n' \(expected a non-zero number"),
        (lambda p: (p / "x.pfm").write_bytes(b"Pf\n2 2\n0\n" + bytes(16)), r"^x\.pfm: bad PFM scale line b'0\\n'"),
        (lambda p: (p / "x.pfm").write_bytes(b"Pf\n0 2\n-1\n"), r"^x\.pfm: bad PFM size line '0 2\\n' \(expected 'width height', both at least 1\)$"),
        (lambda p: (p / "x.pfm").write_bytes(b"Pf\n99999999 99999999\n-1\n" + bytes(16)), r"^x\.pfm: PFM data holds 4 values, 99999999x99999999x1 expected$"),
        (lambda p: (p / "x.exr").write_text("not an exr"), r"^x\.exr: cannot read the EXR file"),
    ],
)
def test_bad_depth_files_are_named(tmp_path, make, message):
    make(tmp_path)
    name = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match=message):
        read_depth_file(name)


@pytest.mark.skipif(os.name == "nt", reason="FIFOs and /dev/zero")
def test_depth_paths_that_are_not_regular_files_are_refused_before_reading(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")  # np.load would block on it, waiting for a writer
    os.symlink("/dev/zero", tmp_path / "zero.pfm")  # the PFM reader would read without end
    os.symlink("loop.npy", tmp_path / "loop.npy")
    (tmp_path / "folder.png").mkdir()
    for name, message in (("fifo.npy", "is not a regular file"), ("zero.pfm", "is not a regular file"), ("loop.npy", "is a symlink loop"),
                          ("folder.png", "is a folder, not a file")):
        with pytest.raises(ValueError, match=rf"^depth file .*{name.replace('.', '[.]')} {message}"):
            read_depth_file(tmp_path / name)
    with pytest.raises(ValueError, match=r"^depth file not found: .*missing\.npy$"):
        read_depth_file(tmp_path / "missing.npy")
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\), got NoneType None$"):
        read_depth_file(None)


def test_the_depth_type_checks_and_keeps_float32():
    depth = Depth(torch.rand(2, 1, 4, 5, dtype=torch.float64), "depth")
    assert depth.values.dtype == torch.float32 and depth.batch_size == 2
    assert "space='depth'" in repr(depth)
    with pytest.raises(ValueError, match=r"^Depth\.values must have shape \[B, 1, H, W\], got \(4, 5\)$"):
        Depth(torch.rand(4, 5))
    with pytest.raises(ValueError, match=r"^Depth\.space must be 'depth' or 'disparity', got 'metres'$"):
        Depth(torch.rand(1, 1, 4, 5), "metres")


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def PackDepth(pack):
    import importlib

    return importlib.import_module(pack.__name__ + ".comfy_editloss.types").Depth


def _scene(offset=0.0, h=40, w=48):
    depth = torch.from_numpy(_depth_map(h, w))
    box = torch.zeros(h, w)
    box[12:28, 16:34] = 1
    target = depth * (1 - box) + 1.5 * box
    pred = depth * (1 - box) + (1.5 + offset) * box
    return pred, target, box


def test_the_load_node_lists_and_reads_depth_files_from_the_input_folder(nodes, tmp_path):
    np.save(tmp_path / "pred.npy", _depth_map())
    (tmp_path / "notes.txt").write_text("not a depth")
    with using_folders(HostFolders(tmp_path, tmp_path / "out", tmp_path / "temp")):
        files = nodes["EditLossLoadDepth"].INPUT_TYPES()["required"]["file"][0]
        assert files == ["pred.npy"]
        (depth,) = nodes["EditLossLoadDepth"]().load("pred.npy", "depth", 0.5)
    assert depth.space == "depth" and depth.values.shape == (1, 1, 24, 32)
    assert torch.allclose(depth.values[0, 0], torch.from_numpy(_depth_map()) * 0.5)


def test_image_to_depth_and_back(nodes):
    image = torch.rand(2, 16, 20, 3)
    (depth,) = nodes["EditLossDepthFromImage"]().convert(image, "disparity")
    assert depth.space == "disparity" and torch.allclose(depth.values[:, 0], image.mean(-1))
    (weighted,) = nodes["EditLossDepthFromImage"]().convert(image, "depth", confidence=torch.full((16, 20), 0.5))
    assert weighted.confidence.shape == (2, 1, 16, 20) and float(weighted.confidence.max()) == 0.5
    with pytest.raises(ValueError, match=r"^confidence must lie in \[0, 1\], got values from 2 to 2$"):
        nodes["EditLossDepthFromImage"]().convert(image, "depth", confidence=torch.full((16, 20), 2.0))
    (preview,) = nodes["EditLossDepthToImage"]().draw(depth, "inferno")
    assert preview.shape == (2, 16, 20, 3) and 0 <= float(preview.min()) and float(preview.max()) <= 1


def test_align_then_score_equals_the_library_and_a_wrong_depth_scores_higher(nodes, PackDepth):
    scores = {}
    for offset in (0.0, 0.8):
        pred, target, box = _scene(offset)
        relative = PackDepth((0.3 / pred)[None, None] + 0.05, "disparity")  # disparity, unknown scale and shift
        truth = PackDepth(target[None, None], "depth")
        aligned, scale, shift, residual, report = nodes["EditLossAlignDepth"]().align(relative, truth, 2, "trimmed", mask=box)
        assert aligned.space == "depth" and residual < 1e-4 and report.startswith("sample 0: scale")
        assert scale == pytest.approx(1 / 0.3, rel=1e-4) and shift == pytest.approx(-0.05 / 0.3, rel=1e-3)
        total, inside, outside, edge, per = nodes["EditLossDepthConsistency"]().compute(aligned, truth, box, 1, 1, 0.1, 1.0, 0.5, 0.5, "pixels")
        expected = L.depth_consistency_loss(aligned.values, target, box)
        assert total == pytest.approx(float(expected.total), rel=1e-5, abs=1e-7) and per.values.shape == (1,)
        scores[offset] = total
        (picture,) = nodes["EditLossDepthPlot"]().draw(aligned, truth, 1, mask=box)
        assert picture.shape == (1, 40 + 18, 3 * 48, 3)
    assert scores[0.0] < 1e-5 < scores[0.8]


@pytest.mark.parametrize("sample_weighting", ["pixels", "samples"])
def test_the_consistency_node_computes_the_loss_once_for_its_loss_and_scores(nodes, pack, PackDepth, monkeypatch, sample_weighting):
    module = importlib.import_module(pack.__name__ + ".nodes.depth")
    calls = []
    real = module.depth_consistency_loss

    def counting(*args, **kwargs):
        calls.append(kwargs.get("reduction", "mean"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "depth_consistency_loss", counting)
    pred, target, box = _scene(0.6)
    small = torch.zeros_like(box)
    small[20:24, 20:26] = 1
    preds = torch.stack([pred, pred + 0.3 * small])[:, None]
    masks = torch.stack([box, small])  # regions of different sizes: pixel and sample weighting differ
    options = dict(outside_dilate_r=1, edge_band_r=1, beta=0.1, w_inside=1.0, w_outside=0.5, w_edge=0.5)
    total, inside, outside, edge, scores = nodes["EditLossDepthConsistency"]().compute(
        PackDepth(preds, "depth"), PackDepth(target[None, None], "depth"), masks, *options.values(), sample_weighting)
    assert calls == ["mean"]
    batch = L.depth_consistency_loss(preds, target[None, None].expand(2, -1, -1, -1), masks[:, None], sample_weighting=sample_weighting, **options)
    per = L.depth_consistency_loss(preds, target[None, None].expand(2, -1, -1, -1), masks[:, None], reduction="none", **options)
    assert (total, inside, outside, edge) == pytest.approx(tuple(float(getattr(batch, k)) for k in ("total", "inside", "outside", "edge")), rel=1e-6)
    assert torch.allclose(scores.values, per.total.float(), rtol=1e-6) and scores.details["sample_weighting"] == sample_weighting


def test_depth_node_errors_name_the_input(nodes, PackDepth):
    pred, target, box = _scene()
    p, t = PackDepth(pred[None, None], "depth"), PackDepth(target[None, None], "disparity")
    with pytest.raises(ValueError, match=r"^predicted is depth but target is disparity: convert or align them into one space first"):
        nodes["EditLossDepthConsistency"]().compute(p, t, box, 1, 1, 0.1, 1.0, 0.5, 0.5, "pixels")
    with pytest.raises(ValueError, match=r"^mask is 10x10 px but the depth maps are 48x40 px: scale the mask \(or the depth maps\) to one size first$"):
        nodes["EditLossDepthConsistency"]().compute(p, PackDepth(target[None, None], "depth"), torch.ones(1, 10, 10), 1, 1, 0.1, 1.0, 0.5, 0.5, "pixels")
    with pytest.raises(TypeError, match=r"^target must be an EDITLOSS_DEPTH \(from an EditLoss depth loader\), got a torch\.float32 tensor"):
        nodes["EditLossAlignDepth"]().align(p, target, 2, "none")

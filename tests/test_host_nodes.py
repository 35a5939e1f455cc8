"""Stand-ins for ComfyUI's core nodes: the catalogue's exact interface, ComfyUI's behaviour on files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from comfy_editloss.graph.catalogue import Catalogue, NodeSpec
from comfy_editloss.graph.convert import widget_layout
from comfy_editloss.graph.host import HOST_NODES, HostFolders, host_value_for_file, using_folders


@pytest.fixture
def folders(tmp_path):
    host = HostFolders(tmp_path / "input", tmp_path / "output", tmp_path / "temp")
    host.input.mkdir()
    with using_folders(host):
        yield host


@pytest.mark.parametrize("name", sorted(HOST_NODES))
def test_interface_equals_comfyuis_catalogue(name):
    core = Catalogue.core().get(name)
    ours = NodeSpec.from_class(name, HOST_NODES[name])
    assert [(i.name, i.section, i.type) for i in ours.inputs] == [(i.name, i.section, i.type) for i in core.inputs]
    for mine, theirs in zip(ours.inputs, core.inputs):
        assert dict(mine.options) == dict(theirs.options), mine.name
        if name not in ("LoadImage", "LoadImageMask") or mine.name != "image":  # file lists depend on the machine
            assert mine.choices == theirs.choices, mine.name
    assert [(o.type, o.name, o.is_list) for o in ours.outputs] == [(o.type, o.name, o.is_list) for o in core.outputs]
    assert ours.output_node == core.output_node
    assert [(w.name, w.in_prompt) for w in widget_layout(ours)] == [(w.name, w.in_prompt) for w in widget_layout(core)]
    assert HOST_NODES[name].CATEGORY == core.category


def test_load_image_alpha_becomes_the_inverted_mask(folders):
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = np.linspace(0, 255, 7).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folders.input / "a.png")
    image, mask = HOST_NODES["LoadImage"]().load_image("a.png")
    assert image.shape == (1, 5, 7, 3) and image.dtype == torch.float32
    assert torch.all(image[..., 0] == 1.0) and torch.all(image[..., 1:] == 0.0)
    torch.testing.assert_close(mask[0, 0], 1.0 - torch.from_numpy(rgba[0, :, 3] / 255.0).float())
    Image.fromarray(rgba[..., :3]).save(folders.input / "b.png")
    _, no_alpha = HOST_NODES["LoadImage"]().load_image("b.png")
    assert no_alpha.shape == (1, 64, 64) and torch.all(no_alpha == 0)


def test_load_image_applies_exif_orientation(folders):
    pixels = np.zeros((4, 10, 3), np.uint8)
    pixels[:, :2] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(pixels).save(folders.input / "r.jpg", exif=exif.tobytes(), quality=100)
    image, _ = HOST_NODES["LoadImage"]().load_image("r.jpg")
    assert image.shape == (1, 10, 4, 3)  # displayed upright: portrait
    assert image[0, :2].mean() > 0.9 and image[0, -2:].mean() < 0.1  # the band is now on top


def test_load_image_reads_every_frame_of_an_animation_as_a_batch(folders):
    frames = [Image.fromarray(np.full((6, 6, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(folders.input / "anim.gif", save_all=True, append_images=frames[1:])
    image, mask = HOST_NODES["LoadImage"]().load_image("anim.gif")
    assert image.shape == (3, 6, 6, 3) and mask.shape[0] == 3
    assert image[0].max() < 0.05 and image[2].min() > 0.95


def test_load_image_of_16_bit_integers_is_scaled_like_comfyui(folders):
    Image.fromarray(np.full((3, 3), 255 * 100, np.int32), "I").save(folders.input / "deep.tif")
    image, _ = HOST_NODES["LoadImage"]().load_image("deep.tif")
    assert image.shape == (1, 3, 3, 3) and float(image.min()) == pytest.approx(100 / 255, abs=1 / 255)


def test_load_image_mask_channels(folders):
    rgba = np.stack([np.full((2, 2), v, np.uint8) for v in (51, 102, 153, 204)], -1)
    Image.fromarray(rgba, "RGBA").save(folders.input / "m.png")
    load = HOST_NODES["LoadImageMask"]()
    for channel, expected in (("red", 0.2), ("green", 0.4), ("blue", 0.6), ("alpha", 1 - 0.8)):
        (mask,) = load.load_image("m.png", channel)
        assert mask.shape == (1, 2, 2) and float(mask[0, 0, 0]) == pytest.approx(expected, abs=1e-6)
    Image.fromarray(rgba[..., :3]).save(folders.input / "rgb.png")
    (opaque,) = load.load_image("rgb.png", "alpha")
    assert torch.all(opaque == 0)


def test_is_changed_and_validate_inputs_follow_the_file(folders):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(folders.input / "x.png")
    load = HOST_NODES["LoadImage"]
    before = load.IS_CHANGED("x.png")
    Image.fromarray(np.ones((2, 2, 3), np.uint8)).save(folders.input / "x.png")
    assert load.IS_CHANGED("x.png") != before
    assert load.VALIDATE_INPUTS("x.png") is True
    assert load.VALIDATE_INPUTS("missing.png") == "Invalid image file: missing.png"
    assert load.INPUT_TYPES()["required"]["image"][0] == ["x.png"]


@pytest.mark.parametrize("name", ["LoadImage", "LoadImageMask"])
def test_load_image_refuses_a_file_outside_its_folder(folders, name):
    Image.new("RGB", (2, 2)).save(folders.input.parent / "secret.png")
    (folders.input / "pasted").mkdir()
    Image.new("RGB", (2, 2)).save(folders.input / "pasted" / "upload.png")
    folders.output.mkdir()
    Image.new("RGB", (2, 2)).save(folders.output / "made.png")
    load = HOST_NODES[name]
    outside = ["../secret.png", str(folders.input.parent / "secret.png"), "pasted/../../secret.png", "../output/made.png"]
    for image in outside:
        expected = f"Invalid image file: {image}: image must name a file inside the input folder {folders.input}, not a path outside it"
        assert load.VALIDATE_INPUTS(image) == expected
        with pytest.raises(ValueError, match=f"^image must name a file inside the input folder .*, got {image!r}$"):
            folders.resolve_input(image)
    assert load.VALIDATE_INPUTS("pasted/upload.png") is True  # ComfyUI's uploads go to sub-folders
    assert load.VALIDATE_INPUTS("made.png [output]") is True
    assert load.VALIDATE_INPUTS("../made.png [output]").endswith("must name a file inside the output folder " + f"{folders.output}, not a path outside it")


def test_save_image_numbers_files_and_never_overwrites(folders):
    images = torch.rand(2, 4, 5, 3)
    save = HOST_NODES["SaveImage"]()
    first = save.save_images(images, "run/edit", prompt={"1": {"class_type": "X"}}, extra_pnginfo={"workflow": {"nodes": []}})
    second = save.save_images(images[:1], "run/edit")
    names = [r["filename"] for r in first["ui"]["images"] + second["ui"]["images"]]
    assert names == ["edit_00001_.png", "edit_00002_.png", "edit_00003_.png"]
    assert first["ui"]["images"][0] == {"filename": "edit_00001_.png", "subfolder": "run", "type": "output"}
    with Image.open(folders.output / "run" / "edit_00001_.png") as png:
        assert json.loads(png.text["prompt"]) == {"1": {"class_type": "X"}}
        assert json.loads(png.text["workflow"]) == {"nodes": []}
        saved = torch.from_numpy(np.array(png)).float() / 255
    assert torch.allclose(saved, images[0], atol=1 / 255)
    with pytest.raises(ValueError, match="saving outside the output folder is not allowed"):
        save.save_images(images, "../escape")


def test_preview_image_goes_to_temp(folders):
    result = HOST_NODES["PreviewImage"]().save_images(torch.rand(1, 3, 3, 3))
    entry = result["ui"]["images"][0]
    assert entry["type"] == "temp" and entry["filename"].startswith("ComfyUI_temp_")
    assert (folders.temp / entry["filename"]).is_file()


def test_preview_any_text(folders):
    show = HOST_NODES["PreviewAny"]().main
    assert show("hello") == {"ui": {"text": ("hello",)}}
    assert show(1.5) == {"ui": {"text": ("1.5",)}}
    assert show({"a": [1, 2]}) == {"ui": {"text": ('{"a": [1, 2]}',)}}
    assert show(None) == {"ui": {"text": ("None",)}}

    class Custom:
        def __str__(self):
            return "custom!"

    assert show(Custom()) == {"ui": {"text": ("custom!",)}}


def test_image_scale(folders):
    scale = HOST_NODES["ImageScale"]().upscale
    image = torch.rand(2, 8, 12, 3)
    (same,) = scale(image, "bilinear", 0, 0, "disabled")
    assert same is image
    (half,) = scale(image, "area", 6, 4, "disabled")
    torch.testing.assert_close(half, F.interpolate(image.movedim(-1, 1), size=(4, 6), mode="area").movedim(1, -1))
    (keep_aspect,) = scale(image, "nearest-exact", 0, 4, "disabled")
    assert keep_aspect.shape == (2, 4, 6, 3)
    (cropped,) = scale(image, "bilinear", 8, 8, "center")
    torch.testing.assert_close(cropped, image[:, :, 2:10])  # a 12x8 image cropped to its 8x8 centre
    (lanczos,) = scale(image, "lanczos", 6, 4, "disabled")
    assert lanczos.shape == (2, 4, 6, 3) and lanczos.dtype == torch.float32


def test_injected_files_become_outputs_of_the_right_type(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "i.png")
    Image.fromarray(np.full((3, 3), 255, np.uint8), "L").save(tmp_path / "m.png")
    np.save(tmp_path / "z.npy", np.ones((1, 16, 2, 2), np.float32))
    (tmp_path / "v.json").write_text("0.25")
    (tmp_path / "t.txt").write_text("a stool")
    assert host_value_for_file(tmp_path / "i.png", "IMAGE").shape == (1, 3, 3, 3)
    assert torch.all(host_value_for_file(tmp_path / "i.png", "MASK") == 0)  # opaque: nothing masked
    assert torch.all(host_value_for_file(tmp_path / "m.png", "MASK") == 1)  # no alpha: the grey level
    assert host_value_for_file(tmp_path / "z.npy", "LATENT")["samples"].shape == (1, 16, 2, 2)
    assert host_value_for_file(tmp_path / "v.json", "FLOAT") == 0.25
    assert host_value_for_file(tmp_path / "t.txt", "STRING") == "a stool"
    with pytest.raises(ValueError, match=r"cannot inject a .bmpx file"):
        (tmp_path / "x.bmpx").write_text("?")
        host_value_for_file(tmp_path / "x.bmpx", "IMAGE")
    with pytest.raises(FileNotFoundError, match="no such file"):
        host_value_for_file(tmp_path / "none.png", "IMAGE")


def test_injected_folders_and_depth_arrays(tmp_path):
    folder = tmp_path / "generations"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="no image files in the folder .*generations"):
        host_value_for_file(folder, "IMAGE")
    for name, value in (("b_10.png", 10), ("b_2.png", 20)):
        Image.new("RGB", (5, 4), (value, 0, 0)).save(folder / name)
    batch = host_value_for_file(folder, "IMAGE")
    assert batch.shape == (2, 4, 5, 3) and float(batch[0, 0, 0, 0]) == pytest.approx(20 / 255)  # b_2 before b_10
    np.save(tmp_path / "d.npy", np.ones((2, 4, 5), np.float32))
    depth = host_value_for_file(tmp_path / "d.npy", "EDITLOSS_DEPTH")
    assert depth.values.shape == (2, 1, 4, 5) and depth.space == "disparity" and depth.source == "d.npy"
    np.save(tmp_path / "bad.npy", np.ones((2, 2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"a depth to inject must be \[H, W\], \[B, H, W\] or \[B, 1, H, W\], got \(2, 2, 4, 5\)"):
        host_value_for_file(tmp_path / "bad.npy", "EDITLOSS_DEPTH")

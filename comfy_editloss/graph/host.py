"""Stand-ins for the few core ComfyUI nodes that our workflows use around our own nodes.

Each has the exact interface ComfyUI 0.8.0 reports for it in ``object_info.json`` (inputs, widget
order, outputs, output-node flag; a test checks this) and behaves like ComfyUI's ``nodes.py`` on
real files: ``LoadImage`` applies EXIF orientation, loads every frame of a multi-frame file as a
batch and turns alpha into the mask as ``1 - alpha``; ``SaveImage`` numbers files
``<prefix>_00001_.png`` after the highest existing number, so nothing is overwritten; and so on.

Folders (ComfyUI's input, output and temp directories) come from the :class:`HostFolders` that the
runner sets while it executes a prompt.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ..report.files import numbered_path

MAX_RESOLUTION = 16384
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class HostFolders:
    input: Path
    output: Path
    temp: Path

    def _annotated(self, name: str) -> tuple[str, Path, str]:
        """ComfyUI's annotated file names: ``name``, ``name [input]``, ``name [output]``, ``name [temp]``:
        (the name, its folder, which folder)."""
        for tag, folder, kind in ((" [input]", self.input, "input"), (" [output]", self.output, "output"), (" [temp]", self.temp, "temp")):
            if name.endswith(tag):
                return name[: -len(tag)], folder, kind
        return name, self.input, "input"

    def outside(self, name: str) -> str | None:
        """The folder ``name`` leaves (``the input folder /...``) when it is absolute or climbs out
        with ``..``, else None. ComfyUI lists only the files inside the folder, so nothing else can
        be picked; sub-folders (ComfyUI's ``pasted/``, ``clipspace/`` uploads) stay inside."""
        name, folder, kind = self._annotated(name)
        relative = os.path.normpath(name)
        if Path(name).is_absolute() or relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
            return f"the {kind} folder {folder}"
        return None

    def resolve_input(self, name: str) -> Path:
        """The file an input-file name stands for; a name outside its folder is refused."""
        where = self.outside(name)
        if where is not None:
            raise ValueError(f"image must name a file inside {where}, got {name!r}")
        name, folder, _ = self._annotated(name)
        return folder / os.path.normpath(name)


_FOLDERS: contextvars.ContextVar[HostFolders | None] = contextvars.ContextVar("editloss_host_folders", default=None)


def folders() -> HostFolders:
    current = _FOLDERS.get()
    if current is None:
        cwd = Path.cwd()
        return HostFolders(cwd, cwd / "output", cwd / "temp")
    return current


@contextlib.contextmanager
def using_folders(host_folders: HostFolders) -> Iterator[HostFolders]:
    token = _FOLDERS.set(host_folders)
    try:
        yield host_folders
    finally:
        _FOLDERS.reset(token)


def _pil():
    from PIL import Image, ImageOps, ImageSequence  # noqa: PLC0415 - only nodes that touch files need PIL

    return Image, ImageOps, ImageSequence


def _input_files() -> list[str]:
    folder = folders().input
    if not folder.is_dir():
        return []
    return sorted(f.name for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)


def image_file_problem(image: str) -> str | bool:
    """LoadImage's check of its file, ComfyUI's message: True, or why the file cannot be loaded."""
    where = folders().outside(image)
    if where is not None:
        return f"Invalid image file: {image}: image must name a file inside {where}, not a path outside it"
    if not folders().resolve_input(image).is_file():
        return f"Invalid image file: {image}"
    return True


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (LoadImage's IS_CHANGED, and batch scoring's keys)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_image_file(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """An image file as ComfyUI's LoadImage returns it: IMAGE ``[B,H,W,3]`` and MASK ``[B,H,W]``."""
    import numpy as np  # noqa: PLC0415

    Image, ImageOps, ImageSequence = _pil()
    img = Image.open(path)
    images, masks = [], []
    width = height = None
    for frame in ImageSequence.Iterator(img):
        frame = ImageOps.exif_transpose(frame)
        if frame.mode == "I":
            frame = frame.point(lambda v: v * (1 / 255))
        rgb = frame.convert("RGB")
        if not images:
            width, height = rgb.size
        if rgb.size != (width, height):
            continue  # ComfyUI drops frames of another size
        images.append(torch.from_numpy(np.array(rgb).astype(np.float32) / 255.0)[None])
        if "A" in frame.getbands():
            alpha = np.array(frame.getchannel("A")).astype(np.float32) / 255.0
            mask = 1.0 - torch.from_numpy(alpha)
        elif frame.mode == "P" and "transparency" in frame.info:
            alpha = np.array(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0
            mask = 1.0 - torch.from_numpy(alpha)
        else:
            mask = torch.zeros((64, 64), dtype=torch.float32)
        masks.append(mask.unsqueeze(0))
        if img.format == "MPO":
            break  # only the first frame of a multi-picture (stereo) JPEG
    if len(images) > 1:
        return torch.cat(images, dim=0), torch.cat(masks, dim=0)
    return images[0], masks[0]


def load_mask_file(path: str | os.PathLike, channel: str) -> torch.Tensor:
    """One channel of an image file as ComfyUI's LoadImageMask returns it, ``[1,H,W]``."""
    import numpy as np  # noqa: PLC0415

    Image, ImageOps, _ = _pil()
    image = ImageOps.exif_transpose(Image.open(path))
    if image.getbands() != ("R", "G", "B", "A"):
        if image.mode == "I":
            image = image.point(lambda v: v * (1 / 255))
        image = image.convert("RGBA")
    band = channel[0].upper()
    if band in image.getbands():
        mask = torch.from_numpy(np.array(image.getchannel(band)).astype(np.float32) / 255.0)
        if band == "A":
            mask = 1.0 - mask
    else:
        mask = torch.zeros((64, 64), dtype=torch.float32)
    return mask.unsqueeze(0)


class LoadImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    DESCRIPTION = "Loads an image (every frame of an animated file, as a batch) and its alpha as a mask (1 - alpha)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True})}}

    def load_image(self, image):
        return load_image_file(folders().resolve_input(image))

    @classmethod
    def IS_CHANGED(cls, image):
        return file_hash(folders().resolve_input(image))

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return image_file_problem(image)


class LoadImageMask:
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    DESCRIPTION = "Loads one channel of an image as a mask (alpha is inverted, as in ComfyUI)."
    _color_channels = ["alpha", "red", "green", "blue"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True}), "channel": (cls._color_channels,)}}

    def load_image(self, image, channel):
        return (load_mask_file(folders().resolve_input(image), channel),)

    @classmethod
    def IS_CHANGED(cls, image, channel):
        return file_hash(folders().resolve_input(image))

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return image_file_problem(image)


def save_image_path(prefix: str, output_dir: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """ComfyUI's folder_paths.get_save_image_path: (folder, file stem, next free counter, subfolder)."""
    return numbered_path(prefix, output_dir, width, height)


class SaveImage:
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the input images to your ComfyUI output directory."
    type = "output"
    prefix_append = ""
    compress_level = 4

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": "The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def _folder(self) -> Path:
        return folders().output

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        import numpy as np  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415
        from PIL.PngImagePlugin import PngInfo  # noqa: PLC0415

        filename_prefix += self.prefix_append
        folder, stem, counter, subfolder = save_image_path(filename_prefix, self._folder(), images[0].shape[1], images[0].shape[0])
        results = []
        for batch_number, image in enumerate(images):
            pixels = np.clip(255.0 * image.cpu().numpy(), 0, 255).astype(np.uint8)
            metadata = PngInfo()
            if prompt is not None:
                metadata.add_text("prompt", json.dumps(prompt))
            for key, value in (extra_pnginfo or {}).items():
                metadata.add_text(key, json.dumps(value))
            name = f"{stem.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
            Image.fromarray(pixels).save(folder / name, pnginfo=metadata, compress_level=self.compress_level)
            results.append({"filename": name, "subfolder": subfolder, "type": self.type})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    DESCRIPTION = "Saves the input images to the temp folder for preview."
    type = "temp"
    compress_level = 1

    def __init__(self):
        self.prefix_append = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def _folder(self) -> Path:
        return folders().temp


class PreviewAny:
    CATEGORY = "utils"
    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True
    DESCRIPTION = "Shows any value as text."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("*", {})}}

    def main(self, source=None):
        value = "None"
        if isinstance(source, str):
            value = source
        elif isinstance(source, (int, float, bool)):
            value = str(source)
        elif source is not None:
            try:
                value = json.dumps(source)
            except Exception:  # noqa: BLE001 - ComfyUI falls back to str() the same way
                try:
                    value = str(source)
                except Exception:  # noqa: BLE001
                    value = "source exists, but could not be serialized."
        return {"ui": {"text": (value,)}}


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    images = [Image.fromarray(np.clip(255.0 * s.movedim(0, -1).cpu().numpy(), 0, 255).astype(np.uint8)) for s in samples]
    images = [image.resize((width, height), resample=Image.Resampling.LANCZOS) for image in images]
    tensors = [torch.from_numpy(np.array(image).astype(np.float32) / 255.0).movedim(-1, 0) for image in images]
    return torch.stack(tensors).to(samples.device, samples.dtype)


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """comfy.utils.common_upscale for ``[B,C,H,W]``."""
    if crop == "center":
        old_width, old_height = samples.shape[-1], samples.shape[-2]
        old_aspect, new_aspect = old_width / old_height, width / height
        x = y = 0
        if old_aspect > new_aspect:
            x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
        elif old_aspect < new_aspect:
            y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
        samples = samples.narrow(-2, y, old_height - y * 2).narrow(-1, x, old_width - x * 2)
    if method == "lanczos":
        return lanczos(samples, width, height)
    return F.interpolate(samples, size=(height, width), mode=method)


class ImageScale:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = "Resizes images; a width or height of 0 keeps the aspect ratio, 'center' crops to the new aspect first."
    upscale_methods = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    crop_methods = ["disabled", "center"]

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "upscale_method": (cls.upscale_methods,),
                "width": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "height": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "crop": (cls.crop_methods,),
            }
        }

    def upscale(self, image, upscale_method, width, height, crop):
        if width == 0 and height == 0:
            return (image,)
        samples = image.movedim(-1, 1)
        if width == 0:
            width = max(1, round(samples.shape[3] * height / samples.shape[2]))
        elif height == 0:
            height = max(1, round(samples.shape[2] * width / samples.shape[3]))
        return (common_upscale(samples, width, height, upscale_method, crop).movedim(1, -1),)


HOST_NODES: dict[str, type] = {
    "LoadImage": LoadImage,
    "LoadImageMask": LoadImageMask,
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "PreviewAny": PreviewAny,
    "ImageScale": ImageScale,
}


def host_value_for_file(path: str | os.PathLike, output_type: str) -> Any:
    """A file's content as a node output of the given type (for injecting outputs of nodes that
    cannot run here): images as IMAGE or MASK, ``.npy``/``.npz``/``.pt``/``.safetensors`` arrays
    as tensors (a LATENT as ``{"samples": tensor}``, an EDITLOSS_DEPTH as a disparity map like a depth
    estimator's), ``.json`` values, ``.txt`` strings; a folder of
    images as one IMAGE batch (natural file order), e.g. a batch of generations."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and output_type == "IMAGE":
        from ..io.images import image_files, load_image_batch  # noqa: PLC0415

        files = image_files(path)
        if not files:
            raise FileNotFoundError(f"no image files in the folder {path}")
        return load_image_batch(files)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if suffix in IMAGE_EXTENSIONS:
        if output_type == "MASK":
            return load_mask_file(path, "red") if _has_no_alpha(path) else load_image_file(path)[1]
        return load_image_file(path)[0]
    if suffix in (".npy", ".npz"):
        import numpy as np  # noqa: PLC0415

        array = np.load(path, allow_pickle=False)
        if suffix == ".npz":
            array = array[array.files[0]]
        value: Any = torch.from_numpy(np.ascontiguousarray(array))
    elif suffix == ".safetensors":
        try:
            from safetensors.torch import load_file  # noqa: PLC0415
        except ImportError:
            raise ValueError(f"{path}: reading .safetensors files needs the safetensors package (pip install safetensors)") from None

        tensors = load_file(str(path))
        value = next(iter(tensors.values())) if len(tensors) == 1 else tensors
    elif suffix == ".pt":
        value = torch.load(path, map_location="cpu", weights_only=True)
    elif suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".txt":
        return path.read_text(encoding="utf-8")
    else:
        raise ValueError(f"{path}: cannot inject a {suffix or 'extensionless'} file; use an image, .npy, .npz, .pt, .safetensors, .json or .txt")
    if output_type == "LATENT" and isinstance(value, torch.Tensor):
        return {"samples": value.float()}
    if output_type == "EDITLOSS_DEPTH" and isinstance(value, torch.Tensor):
        from ..types import Depth  # noqa: PLC0415

        values = value.float()
        values = values[None, None] if values.dim() == 2 else values[:, None] if values.dim() == 3 else values
        if values.dim() != 4 or values.shape[1] != 1:
            raise ValueError(f"{path}: a depth to inject must be [H, W], [B, H, W] or [B, 1, H, W], got {tuple(value.shape)}")
        return Depth(values, "disparity", None, path.name)  # what depth estimators give
    return value


def _has_no_alpha(path: Path) -> bool:
    Image, _, _ = _pil()
    with Image.open(path) as image:
        return "A" not in image.getbands() and not (image.mode == "P" and "transparency" in image.info)

"""Encoder nodes: weight-free encoders (the default), open_clip and timm models from local files,
an adapter for ComfyUI's own CLIP vision models, and per-patch heat maps."""

from __future__ import annotations

import importlib.util
import math
import os

import torch
import torch.nn.functional as F

from ..comfy_editloss._checks import describe
from ..comfy_editloss.encoders import KINDS, encode_images, weight_free_embedding
from ..comfy_editloss.encoders import cache as model_cache
from ..comfy_editloss.encoders.checkpoints import CheckpointError, find_model_file
from ..comfy_editloss.encoders.models import GLOBAL_POOLS, PRECISIONS, EncoderOutput, ImageEncoder, WeightFreeImageEncoder
from ..comfy_editloss.encoders.preprocess import RESIZE_MODES, PreprocessConfig
from ..comfy_editloss.losses import DISTANCES
from ..comfy_editloss.report.heatmap import heatmap_panels, patch_distances
from ..comfy_editloss.types import EMBEDDING_TYPE, Embedding
from .host import folders, models, progress
from .common import CATEGORY_EMBEDDING, as_image, storage_precision

ENCODER_TYPE = "EDITLOSS_ENCODER"
CATEGORY_ENCODERS = "editloss/encoders"
EMBEDDING_OUTPUTS = (EMBEDDING_TYPE, EMBEDDING_TYPE)
EMBEDDING_NAMES = ("global", "patches")
EMBEDDING_TOOLTIPS = (
    "One unit-norm vector per image [B, D]: what the image shows overall (for the no-edit identity loss).",
    "A grid of patch features [B, h, w, C]: where things are (for geometry, overlay, masks and heat maps).",
)


def _image_input(tooltip: str = "The images to encode (IMAGE [B,H,W,3]).") -> tuple:
    return ("IMAGE", {"tooltip": tooltip})


def _outputs(global_embedding: torch.Tensor, patches: torch.Tensor, encoder: str) -> tuple[Embedding, Embedding]:
    return (
        Embedding(global_embedding.detach().to("cpu", torch.float32), encoder=encoder, normalized=True),
        Embedding(patches.detach().to("cpu", torch.float32), encoder=encoder, normalized=False),
    )


class EditLossWeightFreeEncode:
    DESCRIPTION = (
        "Encodes images with no model to download: 'gradient' sees shape (histograms of edge directions "
        "per patch, tolerant to shifts of a couple of pixels), 'pixel' sees colour, 'gradient+pixel' both. "
        "Differentiable, any image size; the default encoder of the EditLoss workflows."
    )
    CATEGORY = CATEGORY_ENCODERS
    FUNCTION = "encode"
    RETURN_TYPES = EMBEDDING_OUTPUTS
    RETURN_NAMES = EMBEDDING_NAMES
    OUTPUT_TOOLTIPS = EMBEDDING_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": _image_input(),
                "kind": (list(KINDS), {"default": "gradient+pixel", "tooltip": "gradient = shape, pixel = colour, gradient+pixel = both."}),
                "patch_size": ("INT", {"default": 16, "min": 4, "max": 256, "step": 1, "tooltip": "Pixels per patch side: the grid is the image size divided by this."}),
            }
        }

    def encode(self, image, kind, patch_size):
        patches = weight_free_embedding(as_image(image, "image", channels=(1, 3)).float(), kind, patch_size)
        pooled = F.normalize(patches.mean(dim=(1, 2)), dim=-1)
        return _outputs(pooled, patches, f"weight_free:{kind}:{patch_size}")


def _open_clip_architectures() -> list[str]:
    """open_clip's model names, read from its config files without importing it."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return ["ViT-B-32"]
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model_configs")
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json")) if os.path.isdir(folder) else []
    return names or ["ViT-B-32"]


def _checkpoint_input(tooltip: str) -> tuple:
    files = folders.list_model_files()
    return (files or ["(put model files in models/editloss_encoders)"], {"tooltip": tooltip})


def _resolve_checkpoint(name: str):
    try:
        return find_model_file(name, folders.model_folders())
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}. Put the file in models/{folders.ENCODER_FOLDER} (or clip_vision, checkpoints) and refresh.") from None


def _hf_transformers_hint(path, error: CheckpointError) -> CheckpointError:
    """ComfyUI's clip_vision files are Hugging Face transformers checkpoints, not open_clip's: say so."""
    from ..comfy_editloss.encoders.checkpoints import read_state_dict  # noqa: PLC0415

    try:
        keys = read_state_dict(path) if os.path.isfile(path) else {}
    except CheckpointError:
        return error
    if any(k.startswith("vision_model.") for k in keys):
        return CheckpointError(
            f"{path} is a Hugging Face transformers CLIP vision file (the format ComfyUI's Load CLIP Vision reads), "
            "not an open_clip checkpoint: load it with Load CLIP Vision and use EditLoss CLIP Vision Encode"
        )
    return error


class _LoaderNode:
    CATEGORY = CATEGORY_ENCODERS
    FUNCTION = "load"
    RETURN_TYPES = (ENCODER_TYPE,)
    RETURN_NAMES = ("encoder",)
    OUTPUT_TOOLTIPS = ("The loaded encoder; connect it to EditLoss Encode.",)


# Loading a TorchScript archive runs code stored in it. Whoever can reach a ComfyUI server can queue a
# prompt, so allowing it is a setting of the machine (its environment), never an input of a node.
TRUSTED_JIT_VARIABLE = "EDITLOSS_TRUSTED_JIT"
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def machine_trusts_jit() -> bool:
    """Whether the machine's owner allows TorchScript (JIT) archives: ``EDITLOSS_TRUSTED_JIT=1`` in
    the environment ComfyUI (or the runner) was started with. A value that is neither yes nor no is
    an error rather than a silent no, so a typo does not look like a broken file."""
    value = os.environ.get(TRUSTED_JIT_VARIABLE, "").strip().lower()
    if value in _YES or value in _NO:
        return value in _YES
    raise ValueError(f"{TRUSTED_JIT_VARIABLE} must be 1 (allow TorchScript archives) or 0 (refuse them), got {os.environ[TRUSTED_JIT_VARIABLE]!r}")


class EditLossOpenCLIPLoader(_LoaderNode):
    DESCRIPTION = (
        "Loads an open_clip image tower (no text tower) from a local file: open_clip .safetensors/.bin, a "
        "hub folder with open_clip_config.json, a training checkpoint, or an OpenAI JIT archive (only on a machine "
        f"whose owner allows them: start ComfyUI with {TRUSTED_JIT_VARIABLE}=1, since loading one runs code stored in "
        "the file). Never downloads. Preprocessing follows the architecture's known configuration."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "architecture": (_open_clip_architectures(), {"default": "ViT-B-32", "tooltip": "open_clip model name the weights belong to (e.g. ViT-B-32, ViT-H-14, ViT-SO400M-14-SigLIP-384)."}),
                "checkpoint": _checkpoint_input(
                    "The weights file or hub folder, from models/editloss_encoders (or clip_vision, checkpoints). OpenAI's "
                    f"TorchScript (JIT) archives load only where ComfyUI runs with {TRUSTED_JIT_VARIABLE}=1."
                ),
                "precision": (list(PRECISIONS), {"default": "auto", "tooltip": "auto = fp16/bf16 on a GPU, fp32 on the CPU."}),
            }
        }

    def load(self, architecture, checkpoint, precision):
        # trusted_jit was the last widget before it became the machine's setting: the value old saved
        # workflows still hold is dropped by position (frontend) or as an unknown input (server).
        from ..comfy_editloss.encoders.models import load_open_clip_encoder  # noqa: PLC0415

        trusted = machine_trusts_jit()
        path = _resolve_checkpoint(checkpoint)
        device = models.offload_device()
        key = ("open_clip", architecture, model_cache.file_identity(path), precision, str(models.compute_device()), trusted)
        try:
            encoder, _ = model_cache.cached(key, lambda: load_open_clip_encoder(architecture, path, storage_precision(precision), device, trusted))
        except CheckpointError as exc:
            raise _hf_transformers_hint(path, exc) from None
        return (encoder,)


class EditLossTimmLoader(_LoaderNode):
    DESCRIPTION = (
        "Loads a timm backbone from a local file: timm's .safetensors/.bin or hub folder, or Meta's original "
        "DINOv2 dinov2_*_pretrain.pth. DINOv2 (vit_small/base/large_patch14_dinov2, with or without _reg4) is "
        "the recommended geometry encoder: its patch tokens see shape. Any image size (multiple of 14)."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "architecture": ("STRING", {"default": "vit_small_patch14_reg4_dinov2", "tooltip": "timm model name, e.g. vit_base_patch14_dinov2, vit_small_patch14_reg4_dinov2, convnext_tiny."}),
                "checkpoint": _checkpoint_input("The weights file or hub folder, from models/editloss_encoders (or checkpoints)."),
                "image_size": ("INT", {"default": 0, "min": 0, "max": 4096, "step": 14, "tooltip": "Shorter image side the model sees (rounded to a multiple of the patch size); 0 = the model's own (518 for DINOv2)."}),
                "global_pool": (list(GLOBAL_POOLS), {"default": "cls", "tooltip": "Global embedding: the class token, the mean of the patch tokens, or the model's own pooling (head)."}),
                "precision": (list(PRECISIONS), {"default": "auto", "tooltip": "auto = fp16/bf16 on a GPU, fp32 on the CPU."}),
            }
        }

    def load(self, architecture, checkpoint, image_size, global_pool, precision):
        from ..comfy_editloss.encoders.models import load_timm_encoder  # noqa: PLC0415

        path = _resolve_checkpoint(checkpoint)
        device = models.offload_device()
        key = ("timm", architecture.strip(), model_cache.file_identity(path), precision, str(models.compute_device()), image_size, global_pool)
        encoder, _ = model_cache.cached(
            key, lambda: load_timm_encoder(architecture.strip(), path, storage_precision(precision), device, image_size or None, global_pool)
        )
        return (encoder,)


def _parse_triple(text: str, name: str):
    if not text.strip():
        return None
    try:
        values = tuple(float(v) for v in text.replace(";", ",").split(","))
    except ValueError:
        raise ValueError(f"{name} must be three numbers separated by commas (e.g. 0.5, 0.5, 0.5), got {text!r}") from None
    if len(values) != 3:
        raise ValueError(f"{name} must be three numbers separated by commas, got {len(values)}: {text!r}")
    return values


class EditLossEncode:
    DESCRIPTION = (
        "Encodes images with any EditLoss encoder (open_clip, timm, the weight-free one, or ComfyUI's CLIP vision through "
        "its adapter), in chunks (progress bar, interruptible), with the model's own preprocessing done as torch "
        "operations. Returns the global embedding and the patch grid."
    )
    CATEGORY = CATEGORY_ENCODERS
    FUNCTION = "encode"
    RETURN_TYPES = EMBEDDING_OUTPUTS
    RETURN_NAMES = EMBEDDING_NAMES
    OUTPUT_TOOLTIPS = EMBEDDING_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "encoder": (ENCODER_TYPE, {"tooltip": "From EditLoss Load open_clip Encoder, Load timm Encoder, Weight-Free Encoder or CLIP Vision as Encoder."}),
                "image": _image_input(),
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip": "Images encoded at once; lower it if memory runs out."}),
            },
            "optional": {
                "image_size": ("INT", {"default": 0, "min": 0, "max": 4096, "tooltip": "Override the input size (0 = the model's)."}),
                "resize_mode": (["default", *RESIZE_MODES], {"default": "default", "tooltip": "Override how images are fitted: shortest side + centre crop, longest side + pad, squash, or a multiple of the patch size (whole image)."}),
                "mean": ("STRING", {"default": "", "tooltip": "Override the normalisation mean, e.g. 0.5, 0.5, 0.5 (empty = the model's)."}),
                "std": ("STRING", {"default": "", "tooltip": "Override the normalisation std, e.g. 0.5, 0.5, 0.5 (empty = the model's)."}),
            },
        }

    def encode(self, encoder, image, batch_size, image_size=0, resize_mode="default", mean="", std=""):
        if not isinstance(encoder, ImageEncoder):
            raise TypeError(f"encoder must be an {ENCODER_TYPE} from an EditLoss loader node, got {describe(encoder)}")
        image = as_image(image, "image", channels=(1, 3))
        config = encoder.preprocess_config.with_overrides(
            size=image_size, resize_mode=resize_mode, mean=_parse_triple(mean, "mean"), std=_parse_triple(std, "std")
        )
        models.load_for_inference(encoder)
        bar = progress.progress_bar(image.shape[0])
        out = encode_images(
            encoder, image, batch_size, config,
            progress=(lambda done, total: bar.update_absolute(done, total)) if bar is not None else None,
            check_interrupt=progress.throw_if_interrupted,
        )
        return _outputs(out.global_embedding, out.patch_tokens, f"{encoder.family}:{encoder.name}")


def _clip_vision_grid(tokens: torch.Tensor) -> torch.Tensor:
    """Hidden states ``[B, T, C]`` of a CLIP-like vision model -> patch grid ``[B, g, g, C]``: the
    leading class/register tokens are what is left over after the largest square."""
    if tokens.dim() != 3:
        raise ValueError(f"last_hidden_state must be [B, tokens, C], got {tuple(tokens.shape)}")
    count = tokens.shape[1]
    side = math.isqrt(count)
    prefix = count - side * side
    if prefix > 8:  # e.g. 1 class token + 256 patches = 257 -> side 16, prefix 1
        raise ValueError(f"cannot tell patch tokens from extra tokens in {count} tokens")
    return tokens[:, prefix:].reshape(tokens.shape[0], side, side, tokens.shape[2])


def clip_vision_output_to_embeddings(output) -> tuple[Embedding, Embedding]:
    """ComfyUI's CLIP_VISION_OUTPUT (fields ``image_embeds``, ``last_hidden_state``) -> our embeddings."""
    embeds = getattr(output, "image_embeds", None)
    if embeds is None and hasattr(output, "__getitem__"):
        try:
            embeds = output["image_embeds"]
        except (KeyError, TypeError):
            embeds = None
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is None and hasattr(output, "__getitem__"):
        try:
            hidden = output["last_hidden_state"]
        except (KeyError, TypeError):
            hidden = None
    if not isinstance(embeds, torch.Tensor) or not isinstance(hidden, torch.Tensor):
        raise TypeError(f"clip_vision_output must be a CLIP_VISION_OUTPUT with image_embeds and last_hidden_state, got {describe(output)}")
    return _outputs(F.normalize(embeds.float(), dim=-1), _clip_vision_grid(hidden.float()), "comfy_clip_vision")


class EditLossCLIPVisionEncode:
    DESCRIPTION = (
        "Encodes images with a CLIP vision model loaded by ComfyUI's Load CLIP Vision (CLIP-L/H/G, the SigLIP "
        "of Flux Redux, DINOv2), so no second copy of the model is needed. Runs inside ComfyUI only."
    )
    CATEGORY = CATEGORY_ENCODERS
    FUNCTION = "encode"
    RETURN_TYPES = EMBEDDING_OUTPUTS
    RETURN_NAMES = EMBEDDING_NAMES
    OUTPUT_TOOLTIPS = EMBEDDING_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip_vision": ("CLIP_VISION", {"tooltip": "From ComfyUI's Load CLIP Vision."}),
                "image": _image_input(),
                "crop": (["center", "none"], {"default": "center", "tooltip": "center = crop to a square as ComfyUI's CLIP Vision Encode does; none = squash the whole image."}),
            }
        }

    def encode(self, clip_vision, image, crop):
        if not hasattr(clip_vision, "encode_image"):
            raise TypeError(f"clip_vision must be a CLIP_VISION model from Load CLIP Vision, got {describe(clip_vision)}")
        output = clip_vision.encode_image(as_image(image, "image", channels=(1, 3)), crop=crop == "center")
        return clip_vision_output_to_embeddings(output)


class EditLossCLIPVisionOutputToEmbedding:
    DESCRIPTION = "Turns a CLIP_VISION_OUTPUT (from ComfyUI's CLIP Vision Encode) into EditLoss embeddings: the image embeds and the patch tokens."
    CATEGORY = CATEGORY_EMBEDDING
    FUNCTION = "convert"
    RETURN_TYPES = EMBEDDING_OUTPUTS
    RETURN_NAMES = EMBEDDING_NAMES
    OUTPUT_TOOLTIPS = EMBEDDING_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_vision_output": ("CLIP_VISION_OUTPUT", {"tooltip": "From ComfyUI's CLIP Vision Encode."})}}

    def convert(self, clip_vision_output):
        return clip_vision_output_to_embeddings(clip_vision_output)


class EditLossWeightFreeEncoder(_LoaderNode):
    DESCRIPTION = (
        "The weight-free encoder (no model file) as an EDITLOSS_ENCODER, for EditLoss Encode: a graph built on it "
        "switches to open_clip, timm (DINOv2) or ComfyUI's CLIP vision by connecting another loader to the same "
        "encoder input. Images are encoded at their own size; Encode's size and normalisation overrides do not apply."
    )
    OUTPUT_TOOLTIPS = ("The weight-free encoder; connect it to EditLoss Encode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "kind": (list(KINDS), {"default": "gradient+pixel", "tooltip": "gradient = shape, pixel = colour, gradient+pixel = both."}),
                "patch_size": ("INT", {"default": 16, "min": 4, "max": 256, "step": 1, "tooltip": "Pixels per patch side: the grid is the image size divided by this."}),
            }
        }

    def load(self, kind, patch_size):
        return (WeightFreeImageEncoder(kind, int(patch_size)),)


class ComfyCLIPVisionEncoder(ImageEncoder):
    """ComfyUI's CLIP_VISION model behind our encoder interface; ComfyUI moves its weights itself."""

    def __init__(self, clip_vision, crop: bool):
        super().__init__(type(clip_vision).__name__, "comfy_clip_vision", PreprocessConfig())
        self.__dict__["clip_vision"] = clip_vision  # not a submodule: ComfyUI owns and places it
        self.crop = crop

    def forward(self, images, config=None):
        output = self.clip_vision.encode_image(as_image(images, "images", channels=(1, 3)), crop=self.crop)
        global_embedding, patches = clip_vision_output_to_embeddings(output)
        return EncoderOutput(global_embedding.tensor, patches.tensor)


class EditLossCLIPVisionEncoder(_LoaderNode):
    DESCRIPTION = (
        "A CLIP vision model loaded by ComfyUI's Load CLIP Vision (CLIP-L/H/G, SigLIP, DINOv2) as an EDITLOSS_ENCODER, "
        "for EditLoss Encode: switch a scoring graph to it by connecting it to the encoder input. ComfyUI does the "
        "model's preprocessing (224 or 384 px); Encode's overrides do not apply. Runs inside ComfyUI only."
    )
    OUTPUT_TOOLTIPS = ("The CLIP vision model as an encoder; connect it to EditLoss Encode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip_vision": ("CLIP_VISION", {"tooltip": "From ComfyUI's Load CLIP Vision."}),
                "crop": (["center", "none"], {"default": "center", "tooltip": "center = crop to a square as ComfyUI's CLIP Vision Encode does; none = squash the whole image."}),
            }
        }

    def load(self, clip_vision, crop):
        if not hasattr(clip_vision, "encode_image"):
            raise TypeError(f"clip_vision must be a CLIP_VISION model from Load CLIP Vision, got {describe(clip_vision)}")
        return (ComfyCLIPVisionEncoder(clip_vision, crop == "center"),)


class EditLossPatchHeatmap:
    DESCRIPTION = (
        "Draws, for each generation, the per-patch distance of its patch embedding to the target's and to the "
        "source's (and the overlay's, if connected) as heat maps over the image, on one colour scale: bright "
        "where the generation differs. Close to the target and far from the source in the edited region is good."
    )
    CATEGORY = "editloss/pictures"
    FUNCTION = "draw"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("heatmaps",)
    OUTPUT_TOOLTIPS = ("One row per generation: the image, then the distance maps over it.",)

    @classmethod
    def INPUT_TYPES(cls):
        note = " Batch 1 is used for every generation."
        return {
            "required": {
                "image": _image_input("The generations (the images the patch embeddings came from)."),
                "z_pred": (EMBEDDING_TYPE, {"tooltip": "Patch embedding of the generations [B,h,w,D]."}),
                "z_gt": (EMBEDDING_TYPE, {"tooltip": "Patch embedding of the intended result." + note}),
                "z_src": (EMBEDDING_TYPE, {"tooltip": "Patch embedding of the source image." + note}),
                "dist": (list(DISTANCES), {"default": "cos", "tooltip": "Distance per patch (see the loss nodes)."}),
            },
            "optional": {"z_overlay": (EMBEDDING_TYPE, {"tooltip": "Patch embedding of an overlay negative, to show where the generation looks like one." + note})},
        }

    def draw(self, image, z_pred, z_gt, z_src, dist, z_overlay=None):
        from .common import aligned_tensors  # noqa: PLC0415

        image = as_image(image, "image", channels=(1, 3))
        refs = {"z_gt": z_gt, "z_src": z_src}
        if z_overlay is not None:
            refs["z_overlay"] = z_overlay
        pred, *others = aligned_tensors("z_pred", z_pred, **refs)
        if pred.dim() != 4:
            raise ValueError(f"z_pred must be a patch embedding [B,h,w,D], got {tuple(pred.shape)}; use the 'patches' output of an encoder")
        if image.shape[0] != pred.shape[0]:
            raise ValueError(f"image has batch {image.shape[0]} but z_pred has batch {pred.shape[0]}: connect the images the embedding came from")
        titles = ["to target", "to source", "to overlay"]
        maps = {title: patch_distances(pred, ref, dist) for title, ref in zip(titles, others)}
        return (heatmap_panels(image.float().cpu(), maps),)


NODE_CLASS_MAPPINGS = {
    "EditLossWeightFreeEncode": EditLossWeightFreeEncode,
    "EditLossOpenCLIPLoader": EditLossOpenCLIPLoader,
    "EditLossTimmLoader": EditLossTimmLoader,
    "EditLossEncode": EditLossEncode,
    "EditLossCLIPVisionEncode": EditLossCLIPVisionEncode,
    "EditLossCLIPVisionOutputToEmbedding": EditLossCLIPVisionOutputToEmbedding,
    "EditLossPatchHeatmap": EditLossPatchHeatmap,
    "EditLossWeightFreeEncoder": EditLossWeightFreeEncoder,
    "EditLossCLIPVisionEncoder": EditLossCLIPVisionEncoder,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossWeightFreeEncode": "EditLoss Weight-Free Encode",
    "EditLossOpenCLIPLoader": "EditLoss Load open_clip Encoder",
    "EditLossTimmLoader": "EditLoss Load timm Encoder",
    "EditLossEncode": "EditLoss Encode",
    "EditLossCLIPVisionEncode": "EditLoss CLIP Vision Encode",
    "EditLossCLIPVisionOutputToEmbedding": "EditLoss CLIP Vision Output to Embedding",
    "EditLossPatchHeatmap": "EditLoss Patch Heat Map",
    "EditLossWeightFreeEncoder": "EditLoss Weight-Free Encoder",
    "EditLossCLIPVisionEncoder": "EditLoss CLIP Vision as Encoder",
}

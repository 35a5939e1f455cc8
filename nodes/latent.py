"""A ComfyUI LATENT as an embedding: score Kontext generations in the VAE's latent space, with no
extra model (seed 001 names VAE latents as an encoder choice: good for colour and texture, weak on
semantics)."""

from __future__ import annotations

import torch

from ..comfy_editloss._checks import describe
from ..comfy_editloss.types import EMBEDDING_TYPE, Embedding
from .common import CATEGORY_EMBEDDING


def latent_to_embedding(latent: object) -> Embedding:
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"latent must be a LATENT (a dict with a 'samples' tensor [B,C,h,w]), got {describe(latent)}")
    if samples.dim() != 4:
        raise ValueError(
            f"latent['samples'] must have shape [B,C,h,w] (an image latent), got {tuple(samples.shape)}; "
            "video and audio latents are not supported"
        )
    if not samples.is_floating_point():
        raise TypeError(f"latent['samples'] must be a float tensor, got {samples.dtype}")
    grid = samples.detach().to(torch.float32).permute(0, 2, 3, 1).contiguous()
    return Embedding(tensor=grid, encoder="vae_latent", normalized=False)


class EditLossLatentToEmbedding:
    DESCRIPTION = (
        "Turns a LATENT (e.g. from VAE Encode of the before, after and generated images) into a grid "
        "embedding [B,h,w,C]: one feature vector per latent pixel, ready for the loss nodes. The "
        "latents must come from the same VAE at the same image size to be compared."
    )
    CATEGORY = CATEGORY_EMBEDDING
    FUNCTION = "convert"
    RETURN_TYPES = (EMBEDDING_TYPE,)
    RETURN_NAMES = ("embedding",)
    OUTPUT_TOOLTIPS = ("Grid embedding [B,h,w,C] of the latent, channels last.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latent": ("LATENT", {"tooltip": "An image LATENT {'samples': [B,C,h,w]}, e.g. from VAE Encode."})}}

    def convert(self, latent):
        return (latent_to_embedding(latent),)


NODE_CLASS_MAPPINGS = {"EditLossLatentToEmbedding": EditLossLatentToEmbedding}
NODE_DISPLAY_NAME_MAPPINGS = {"EditLossLatentToEmbedding": "EditLoss Latent to Embedding"}

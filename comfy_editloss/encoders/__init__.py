"""Image encoders that turn images into embeddings for the losses.

* weight-free (the default, no download): :func:`gradient_embedding` (shape), :func:`pixel_embedding`
  (colour), :func:`weight_free_embedding` (both);
* open_clip image towers and timm backbones (DINOv2 first) from local files:
  :func:`load_open_clip_encoder`, :func:`load_timm_encoder`;
* :func:`encode_images`: batches in chunks, with progress and interrupts, for any of them.

Every encoder is differentiable: called outside ``torch.no_grad``/``inference_mode``, gradients of a
loss reach the input image.
"""

from __future__ import annotations

from typing import Callable

import torch

from .checkpoints import CheckpointError, find_model_file, read_state_dict
from .models import (
    EncoderOutput,
    ImageEncoder,
    OpenCLIPImageEncoder,
    TimmImageEncoder,
    WeightFreeImageEncoder,
    load_open_clip_encoder,
    load_timm_encoder,
)
from .preprocess import PreprocessConfig, preprocess
from .weightfree import KINDS, gradient_embedding, pixel_embedding, weight_free_embedding


def encode_images(
    encoder: ImageEncoder,
    images: torch.Tensor,
    batch_size: int = 8,
    config: PreprocessConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> EncoderOutput:
    """Encode a batch of IMAGEs ``[B, H, W, 3]`` in chunks of ``batch_size``.

    ``progress(done, total)`` is called after each chunk and ``check_interrupt()`` before it (it
    raises to stop). Outputs stay on the encoder's device, in float32.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parameter = next(encoder.parameters(), None)
    device = parameter.device if parameter is not None else images.device
    globals_, patches = [], []
    total = images.shape[0]
    for start in range(0, total, batch_size):
        if check_interrupt is not None:
            check_interrupt()
        chunk = images[start : start + batch_size].to(device)
        out = encoder(chunk, config)
        globals_.append(out.global_embedding)
        patches.append(out.patch_tokens)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return EncoderOutput(torch.cat(globals_), torch.cat(patches))


__all__ = [
    "KINDS",
    "CheckpointError",
    "EncoderOutput",
    "ImageEncoder",
    "OpenCLIPImageEncoder",
    "PreprocessConfig",
    "TimmImageEncoder",
    "WeightFreeImageEncoder",
    "encode_images",
    "find_model_file",
    "gradient_embedding",
    "load_open_clip_encoder",
    "load_timm_encoder",
    "pixel_embedding",
    "preprocess",
    "read_state_dict",
    "weight_free_embedding",
]

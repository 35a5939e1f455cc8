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

from .._checks import check_callback, check_int
from .checkpoints import CheckpointError, find_model_file, read_state_dict
from .models import (
    GLOBAL_POOLS,
    PRECISIONS,
    EncoderOutput,
    ImageEncoder,
    OpenCLIPImageEncoder,
    TimmImageEncoder,
    WeightFreeImageEncoder,
    describe_model,
    load_open_clip_encoder,
    load_timm_encoder,
)
from .preprocess import INTERPOLATIONS, RESIZE_MODES, PreprocessConfig, check_config, check_image, preprocess
from .weightfree import KINDS, gradient_embedding, pixel_embedding, weight_free_embedding


def encode_images(
    encoder: ImageEncoder,
    images: torch.Tensor,
    batch_size: int = 8,
    config: PreprocessConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> EncoderOutput:
    """Encode a batch of IMAGEs ``[B, H, W, 3]`` (at least one) in chunks of ``batch_size``.

    ``config`` replaces the encoder's preprocessing (``None``: its own). ``progress(done, total)`` is
    called after each chunk and ``check_interrupt()`` before it (it raises to stop). Outputs stay on
    the encoder's device, in float32.
    """
    # torch.compile wraps a module in another class; the encoder is the wrapped one.
    if not isinstance(getattr(encoder, "_orig_mod", encoder), ImageEncoder):
        raise TypeError(f"encoder must be an ImageEncoder (load_open_clip_encoder, load_timm_encoder, WeightFreeImageEncoder), got {describe_model(encoder)}")
    check_image(images)
    check_int(batch_size, "batch_size", minimum=1)
    if config is not None:
        check_config(config)
    check_callback(progress, "progress")
    check_callback(check_interrupt, "check_interrupt")
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
    "GLOBAL_POOLS",
    "INTERPOLATIONS",
    "KINDS",
    "PRECISIONS",
    "RESIZE_MODES",
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

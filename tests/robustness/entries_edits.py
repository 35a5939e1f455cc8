"""Sweep entries of :mod:`comfy_editloss.masks` and :mod:`comfy_editloss.negatives`: the edit mask
derived from two images, the object masks, the overlay negatives and the fill behind them.

Their inputs are ComfyUI IMAGEs ``[B, H, W, C]`` in [0, 1] and MASKs ``[B, H, W]`` in [0, 1], where a
batch of 1 serves every sample of the others; :class:`ImageArg` and :class:`MaskArg` make their bad
and edge variants (and are used by the other entries files for their IMAGE inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from comfy_editloss.edits import masks as M
from comfy_editloss.edits import negatives as N
from comfy_editloss.edits import morphology
from sweep_kinds import HALF_COMPARE, Choice, Int, Number, TensorArg, fresh, replaced
from sweep import Entry, Variant, close, equal_to_reference

MASKS = "comfy_editloss.edits.masks"
NEGATIVES = "comfy_editloss.edits.negatives"

B, H, W = 2, 8, 9


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g)


def _poke(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.detach().clone()
    y.view(-1)[y.numel() // 2] = value
    return y


def _with_batch_one(base: dict, argument: str) -> tuple[dict, dict]:
    """Arguments where ``argument`` has batch 1, and the same call with that sample repeated over
    the batch: a batch of 1 must act as that sample given for every sample."""
    x = base[argument].detach()
    one = replaced(base, argument, x[:1].clone())
    repeated = replaced(base, argument, x[:1].expand_as(x).clone())
    return one, repeated


class _Variants:
    """Collects the variants of one argument (the pattern of kinds.TensorArg)."""

    def __init__(self, argument: str, base: dict, entry, names: tuple[str, ...] = ()):
        self.argument, self.base, self.entry, self.names = argument, base, entry, names
        self.out: list[Variant] = []

    def error(self, label: str, value: Any) -> None:
        self.out.append(Variant(f"{self.argument}: {label}", self.argument, replaced(self.base, self.argument, value), "error", names=self.names))

    def valid(self, label: str, value: Any, check=None, compare=None) -> None:
        arguments = replaced(self.base, self.argument, value)
        self.out.append(Variant(f"{self.argument}: {label}", self.argument, arguments, "valid", check or equal_to_reference(self.entry, arguments, compare), names=self.names))

    def valid_as(self, label: str, value: Any, reference_arguments: dict) -> None:
        """Valid, and equal to the same call with ``reference_arguments`` (an invariant)."""
        arguments = replaced(self.base, self.argument, value)
        self.out.append(Variant(f"{self.argument}: {label}", self.argument, arguments, "valid", equal_to_reference(self.entry, reference_arguments), names=self.names))

    def either(self, label: str, value: Any) -> None:
        self.out.append(Variant(f"{self.argument}: {label}", self.argument, replaced(self.base, self.argument, value), "either", names=self.names))

    def expect(self, what: str, label: str, value: Any) -> None:
        {"error": self.error, "valid": self.valid, "either": self.either}[what](label, value)


def _common_tensor_errors(v: _Variants, x: torch.Tensor, optional: bool) -> None:
    v.error("a list", x.detach().tolist())
    v.error("a string", "tensor")
    v.error("a numpy array", x.detach().numpy())
    if optional:
        v.valid("None", None)
    else:
        v.error("None", None)
    v.error("int64", (x.detach() * 255).round().long())
    v.error("uint8", (x.detach() * 255).round().to(torch.uint8))
    v.error("bool", x.detach() > 0.5)
    v.error("complex", x.detach().to(torch.complex64))
    for label, value in (("NaN", math.nan), ("+Inf", math.inf), ("-Inf", -math.inf), ("above 1", 1.5), ("below 0", -0.5)):
        v.error(label, _poke(x, value))


@dataclass
class ImageArg:
    """A ComfyUI IMAGE ``[B, H, W, C]``, C = 1, 3 or 4, float in [0, 1].

    Attributes:
        batch_shared: dim 0 is a batch shared with the other inputs: one that is neither 1 nor
            theirs must be refused, and (``batch_one``) a batch of 1 serves every sample.
        batch_one: a batch of 1 is used for every sample of the others.
        optional: ``None`` is a valid value.
        meta: what a meta tensor must give (``"error"`` where the values are needed).
        half: float16 is a valid input.
    """

    batch_shared: bool = True
    batch_one: bool = True
    optional: bool = False
    meta: str = "error"
    half: bool = True
    names: tuple[str, ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        x = base[argument]
        v = _Variants(argument, base, entry, self.names)
        _common_tensor_errors(v, x, self.optional)
        v.error("[H, W, C] (no batch dim)", x.detach()[0].clone())
        v.error("5-D", x.detach()[:, None].clone())
        v.error("channels first [B, C, H, W]", x.detach().permute(0, 3, 1, 2).contiguous())
        v.error("2 channels", x.detach()[..., :2].clone())
        v.error("batch 0", x.detach()[:0].clone())
        v.error("height 0", x.detach()[:, :0].clone())
        if self.batch_shared and x.shape[0] > 1:
            v.error("batch + 1", torch.cat([x.detach(), x.detach()[:1]]))
        v.expect(self.meta, "meta", torch.empty_like(x, device="meta"))
        v.valid("float64", x.detach().double())
        if self.half:
            v.valid("float16", x.detach().half(), compare=HALF_COMPARE)
            v.valid("bfloat16", x.detach().bfloat16(), compare=HALF_COMPARE)
        v.valid("non-contiguous (channels-last view)", x.detach().permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1))
        v.valid("black", torch.zeros_like(x.detach()))
        v.valid("white", torch.ones_like(x.detach()))
        v.valid("requires grad", x.detach().clone().requires_grad_(True))
        if self.batch_shared and self.batch_one and x.shape[0] > 1:
            one, repeated = _with_batch_one(base, argument)
            v.valid_as("batch 1", one[argument], repeated)
        return v.out


@dataclass
class MaskArg:
    """A ComfyUI MASK ``[B, H, W]`` (or ``[H, W]``, one mask) in [0, 1], of the images' size."""

    optional: bool = False
    batch_one: bool = True
    half: bool = True
    names: tuple[str, ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        x = base[argument]
        if x is None:
            return []
        v = _Variants(argument, base, entry, self.names)
        _common_tensor_errors(v, x, self.optional)
        v.error("1-D", x.detach()[0, 0].clone())
        v.error("[B, 1, H, W]", x.detach()[:, None].clone())
        v.error("one row more", torch.cat([x.detach(), x.detach()[:, :1]], dim=1))
        v.error("transposed", x.detach().transpose(1, 2).contiguous())
        v.error("batch 0", x.detach()[:0].clone())
        if x.shape[0] > 1:
            v.error("batch + 1", torch.cat([x.detach(), x.detach()[:1]]))
        v.error("meta", torch.empty_like(x, device="meta"))
        v.valid("float64", x.detach().double())
        if self.half:
            v.valid("float16", x.detach().half(), compare=HALF_COMPARE)
            v.valid("bfloat16", x.detach().bfloat16(), compare=HALF_COMPARE)
        v.valid("non-contiguous", x.detach().transpose(1, 2).contiguous().transpose(1, 2))
        v.valid("zeros", torch.zeros_like(x.detach()))
        v.valid("ones", torch.ones_like(x.detach()))
        if self.batch_one and x.shape[0] > 1:
            one, repeated = _with_batch_one(base, argument)
            v.valid_as("batch 1", one[argument], repeated)
            v.valid_as("[H, W]", x.detach()[0].clone(), repeated)
        return v.out


IMAGE = ImageArg()
MASK = MaskArg()
OPTIONAL_MASK = MaskArg(optional=True)
THRESHOLD = Number(minimum=0.0)
RADIUS = Int(minimum=0)


def _scene(seed: int = 0, channels: int = 3) -> dict:
    """Two small IMAGEs ``[B, H, W, C]`` that differ in a block (the edit) and by a little noise."""
    before = _rand(B, H, W, channels, seed=seed)
    after = (before + 0.02 * (_rand(B, H, W, channels, seed=seed + 1) - 0.5)).clamp(0, 1)
    after[0, 2:6, 3:7] = _rand(4, 4, channels, seed=seed + 2)
    after[1, 1:5, 1:5] = _rand(4, 4, channels, seed=seed + 3)
    return {"before": before, "after": after}


def _edit_mask() -> torch.Tensor:
    mask = torch.zeros(B, H, W)
    mask[0, 1:7, 2:8] = 1.0
    mask[1, 0:6, 0:6] = 1.0
    mask[1, 0, 0] = 0.3  # soft values are allowed
    return mask


def _object_mask(seed: int) -> torch.Tensor:
    return (_rand(B, H, W, seed=seed) > 0.5).float()


def _changed_pixels(arguments: dict) -> torch.Tensor:
    difference = (arguments["after"].double() - arguments["before"].double()).abs().amax(dim=-1)
    return (difference > arguments["threshold"]).double()


ENTRIES: list[Entry] = []


# --- masks ---------------------------------------------------------------------------------------


def _edit_mask_valid() -> dict:
    return {**_scene(), "threshold": 0.08, "clean": 1, "grow": 1}


def _edit_mask_extra(base: dict):
    same = fresh(base)
    same["after"] = same["before"].clone()
    yield Variant("after equal to before: an empty mask", "after", same, "valid",
                  lambda mask: None if not bool(mask.any()) else f"{int(mask.sum())} pixel(s) marked where nothing changed")
    plain = {**fresh(base), "clean": 0, "grow": 0}
    yield Variant("clean 0 and grow 0: the changed pixels", "clean", plain, "valid",
                  lambda mask: close(0, 0)(mask, _changed_pixels(plain)))
    grey = {**_scene(channels=1), "threshold": 0.08, "clean": 1, "grow": 1}
    yield Variant("grey IMAGEs (1 channel)", "before", grey, "valid", None)
    rgba = {**_scene(channels=4), "threshold": 0.08, "clean": 1, "grow": 1}
    yield Variant("RGBA IMAGEs (4 channels)", "before", rgba, "valid", None)
    yield Variant("after with 1 channel, before with 3", "after", {**fresh(base), "after": base["after"][..., :1].clone()}, "error", names=("before",))


ENTRIES.append(Entry(
    f"{MASKS}.edit_mask_from_difference", M.edit_mask_from_difference, _edit_mask_valid,
    dict(before=IMAGE, after=IMAGE, threshold=THRESHOLD, clean=RADIUS, grow=RADIUS),
    extra=_edit_mask_extra,
))


# --- negatives -----------------------------------------------------------------------------------

# A feature image [B, C, H, W] of any real values and the pixels known in it [B, 1, H, W].
FILL_IMAGE = TensorArg(min_dims=4)
KNOWN = TensorArg(minimum=0.0, maximum=1.0, bool_ok=True, min_dims=4)


def _known() -> torch.Tensor:
    known = torch.ones(B, 1, H, W)
    known[0, :, 2:5, 3:7] = 0.0
    known[1, :, 1:7, 0:8] = 0.0
    known[1, :, 0, 0] = 0.5
    return known


def _fill_valid() -> dict:
    return {"image": torch.randn(B, 3, H, W, generator=torch.Generator().manual_seed(4)), "known": _known()}


def _keeps_known_pixels(arguments: dict):
    def check(filled: torch.Tensor) -> str | None:
        kept = (arguments["known"] == 1).expand_as(filled)
        if not torch.allclose(filled[kept].double(), arguments["image"][kept].double(), rtol=1e-6, atol=1e-6):
            return "a known pixel changed"
        return None

    return check


def _fill_extra(base: dict):
    yield Variant("known pixels are kept", "known", fresh(base), "valid", _keeps_known_pixels(base))
    whole = {**fresh(base), "known": torch.ones_like(base["known"])}
    yield Variant("every pixel known: the image itself", "known", whole, "valid", lambda filled: close(0, 0)(filled, base["image"]))
    yield Variant("known with the image's 3 channels", "known", {**fresh(base), "known": base["known"].expand(-1, 3, -1, -1).clone()}, "error")
    yield Variant("known of another size", "known", {**fresh(base), "known": base["known"][..., :-1].clone()}, "error")
    yield Variant("image of height 0", "image", {**fresh(base), "image": base["image"][:, :, :0].clone(), "known": base["known"][:, :, :0].clone()}, "error")


ENTRIES.append(Entry(
    f"{NEGATIVES}.fill_from_surroundings", N.fill_from_surroundings, _fill_valid, dict(image=FILL_IMAGE, known=KNOWN), extra=_fill_extra,
))


def _object_masks_valid() -> dict:
    return {**_scene(), "edit_mask": _edit_mask(), "threshold": 0.1, "clean": 1}


def _object_masks_extra(base: dict):
    inside = fresh(base)

    def within_the_edit_region(masks) -> str | None:
        outside = inside["edit_mask"] <= 0.5
        if any(bool(m[outside].any()) for m in masks):
            return "an object pixel outside the edit region"
        return None

    yield Variant("objects lie inside the edit region", "edit_mask", inside, "valid", within_the_edit_region)
    yield Variant("grey IMAGEs (1 channel)", "before", {**_scene(channels=1), "edit_mask": _edit_mask(), "threshold": 0.1, "clean": 1}, "valid", None)


ENTRIES.append(Entry(
    f"{NEGATIVES}.object_masks", N.object_masks, _object_masks_valid,
    dict(before=IMAGE, after=IMAGE, edit_mask=MASK, threshold=THRESHOLD, clean=RADIUS),
    extra=_object_masks_extra,
))


def _overlay_valid() -> dict:
    return {**_scene(), "edit_mask": _edit_mask(), "mode": "new_over_old", "blend": 0.5,
            "new_object_mask": _object_mask(11), "old_object_mask": _object_mask(12), "threshold": 0.1}


def _formula(arguments: dict):
    """The documented formula of each mode, in float64."""
    before, after = arguments["before"].double(), arguments["after"].double()
    mode = arguments["mode"]
    if mode == "blend":
        return before + arguments["blend"] * arguments["edit_mask"].double()[..., None] * (after - before)
    if mode == "new_over_old":
        m = arguments["new_object_mask"].double()[..., None]
        return before * (1 - m) + after * m
    m = arguments["old_object_mask"].double()[..., None]
    return after * (1 - m) + before * m


def _overlay_extra(base: dict):
    for mode in N.OVERLAY_MODES:
        arguments = {**fresh(base), "mode": mode}
        yield Variant(f"mode {mode}: its formula", "mode", arguments, "valid", lambda result, a=arguments: close(1e-6, 1e-6)(result, _formula(a)))
    for mode, name in (("new_over_old", "new_object_mask"), ("old_over_new", "old_object_mask")):
        estimated = {**fresh(base), "mode": mode, name: None}
        yield Variant(f"mode {mode} with the object estimated", name, estimated, "valid", None)
    for mode in N.OVERLAY_MODES:
        # An object mask that the mode does not use is still checked: a bad one is a bad input.
        for name in ("new_object_mask", "old_object_mask"):
            arguments = {**fresh(base), "mode": mode, name: _poke(base[name], math.nan)}
            yield Variant(f"mode {mode}, NaN in {name}", name, arguments, "error")
    yield Variant("grey IMAGEs (1 channel)", "before", {**_overlay_valid(), **_scene(channels=1)}, "valid", None)


ENTRIES.append(Entry(
    f"{NEGATIVES}.overlay_negatives", N.overlay_negatives, _overlay_valid,
    dict(before=IMAGE, after=IMAGE, edit_mask=MASK, mode=Choice(N.OVERLAY_MODES), blend=Number(minimum=0.0, maximum=1.0),
         new_object_mask=OPTIONAL_MASK, old_object_mask=OPTIONAL_MASK, threshold=THRESHOLD),
    extra=_overlay_extra,
))
ENTRIES.append(Entry(f"{NEGATIVES}.OVERLAY_MODES", note="the names of overlay_negatives' modes: a tuple of strings, nothing to call"))


# ---------------------------------------------------------------------------------------------
# comfy_editloss.edits.morphology (dilate, erode and boundary_band are swept as comfy_editloss.losses')
# ---------------------------------------------------------------------------------------------

MORPHOLOGY = "comfy_editloss.edits.morphology"


def _map():
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, 1, 9, 11, generator=g)


# Any float map: NaN propagates (as in torch.maximum), so NaN is an allowed value.
_ANY_MAP = TensorArg(nan="allowed", batch_shared=False, min_dims=2)
ENTRIES += [
    Entry(f"{MORPHOLOGY}.{name}", function, lambda: dict(x=_map(), r=2), dict(x=_ANY_MAP, r=Int(minimum=0)))
    for name, function in (("max_filter", morphology.max_filter), ("min_filter", morphology.min_filter), ("band", morphology.band))
]

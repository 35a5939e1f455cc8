"""Validation of prompts (every error kind, all collected at once) and the lint of node classes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from comfy_editloss.graph.catalogue import Catalogue
from comfy_editloss.graph.pack import PackLoadError, lint_class, lint_pack, load_pack
from comfy_editloss.graph.runtime import Environment, validate_workflow
from comfy_editloss.graph.validate import KINDS, check_prompt, validate_prompt


class Checked:
    DESCRIPTION = "A node with custom validation."
    CATEGORY = "test"
    RETURN_TYPES = ("FLOAT",)
    OUTPUT_TOOLTIPS = ("x",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "ok", "tooltip": "t"}), "value": ("FLOAT", {"tooltip": "t"})}}

    @classmethod
    def VALIDATE_INPUTS(cls, name, input_types=None):
        if name == "boom":
            raise RuntimeError("exploded")
        if name != "ok":
            return f"name must be 'ok', got {name!r}; linked types {input_types}"
        return True

    def run(self, name, value):
        return (value,)


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.core().with_classes({"TChecked": Checked})


def ksampler(**inputs):
    base = {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0], "latent_image": ["3", 0], "seed": 1, "steps": 20, "cfg": 7.0,
            "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
    base.update(inputs)
    return {"class_type": "KSampler", "inputs": {k: v for k, v in base.items() if v is not None}}


def good_prompt(**ksampler_inputs):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev-kontext.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a stool", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "4": ksampler(**ksampler_inputs),
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "x"}},
    }


def messages(issues):
    return [str(i) for i in issues]


def test_a_valid_prompt_with_model_files_absent_here_has_no_issues(catalogue):
    assert validate_prompt(good_prompt(), catalogue, source="g.json") == []


def test_every_problem_is_collected_at_once_with_comfyui_kinds(catalogue):
    prompt = good_prompt(steps=0, cfg=200.0, sampler_name="eulerr", denoise=None, seed=5.7, positive=["3", 0], negative=["9", 0], latent_image=["3", 4])
    prompt["7"] = {"class_type": "NoSuchNode", "inputs": {}}
    prompt["8"] = {"class_type": "TChecked", "inputs": {"name": "bad", "value": ["3", 0]}}
    prompt["9b"] = {"class_type": "CLIPTextEncode", "inputs": {"text": 5, "clip": ["1", 1, 2]}}
    prompt["10"] = {"class_type": "TChecked", "inputs": {"name": "boom", "value": 1.0}}
    prompt["11"] = {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "x", "extra": True}}
    prompt["12"] = {"class_type": "VAEDecode", "inputs": {"samples": "latent", "vae": ["1", 2]}}
    prompt["13"] = {"class_type": "ImageInvert", "inputs": {"image": ["13", 0]}}
    prompt["14"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0, "extra": 1}}
    prompt["15"] = {"class_type": "ImageBlend", "inputs": {"image1": ["13", 0], "image2": ["13", 0], "blend_factor": 0.5, "blend_mode": "normal"}}
    prompt["16"] = {"class_type": "SolidMask", "inputs": {"value": True, "width": 64, "height": 64}}
    prompt["17"] = {"class_type": "ImageScale", "inputs": {"image": ["5", 0], "upscale_method": "area", "width": 64, "height": 64, "crop": "false"}}
    prompt["18"] = {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["5", 0], "filename_prefix": "x", "fps": 6.0, "lossless": "false", "quality": 80, "method": "default"}}
    issues = validate_prompt(prompt, catalogue, {"TChecked": Checked}, source="g.json")
    assert messages(issues) == [
        "g.json: node 4 (KSampler) input 'seed': expected an integer, got 5.7 [invalid_input_type]",
        "g.json: node 4 (KSampler) input 'steps': 0 is smaller than the minimum 1 [value_smaller_than_min]",
        "g.json: node 4 (KSampler) input 'cfg': 200.0 is bigger than the maximum 100.0 [value_bigger_than_max]",
        "g.json: node 4 (KSampler) input 'sampler_name': 'eulerr' is not one of 'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'exp_heun_2_x0', 'exp_heun_2_x0_sde', ... [value_not_in_list]",
        "g.json: node 4 (KSampler) input 'positive': node 3 (EmptyLatentImage) output 0 gives LATENT, but this input takes CONDITIONING [return_type_mismatch]",
        "g.json: node 4 (KSampler) input 'negative': linked to node 9, which is not in the prompt [dangling_link]",
        "g.json: node 4 (KSampler) input 'latent_image': linked to output 4 of node 3 (EmptyLatentImage), which has 1 output(s) [dangling_link]",
        "g.json: node 4 (KSampler) input 'denoise': required input is missing [required_input_missing]",
        "g.json: node 7 (NoSuchNode): node type 'NoSuchNode' does not exist (a missing custom node pack?) [invalid_prompt]",
        "g.json: node 8 (TChecked) input 'value': node 3 (EmptyLatentImage) output 0 gives LATENT, but this input takes FLOAT [return_type_mismatch]",
        "g.json: node 8 (TChecked) input 'name': name must be 'ok', got 'bad'; linked types {'value': 'LATENT'} [custom_validation_failed]",
        "g.json: node 10 (TChecked) input 'name': VALIDATE_INPUTS raised RuntimeError: exploded [exception_during_validation]",
        "g.json: node 12 (VAEDecode) input 'samples': a LATENT input must be linked to a node output, got the value 'latent' [invalid_input_type]",
        "g.json: node 16 (SolidMask) input 'value': expected a finite number, got True [invalid_input_type]",
        "g.json: node 17 (ImageScale) input 'crop': 'false' is not one of 'disabled', 'center' [value_not_in_list]",
        "g.json: node 18 (SaveAnimatedWEBP) input 'lossless': expected true or false, got 'false' [invalid_input_type]",
        "g.json: node 9b (CLIPTextEncode) input 'text': expected a string, got 5 [invalid_input_type]",
        "g.json: node 9b (CLIPTextEncode) input 'clip': a link must be [node_id, output_index], got ['1', 1, 2] [bad_linked_input]",
        "g.json: node 13 (ImageInvert): the links form a loop: 13 <- 13 [cycle]",
    ]
    covered = {i.kind for i in issues}
    assert covered | {"prompt_no_outputs"} == set(KINDS)


def test_prompt_level_problems(catalogue):
    assert messages(validate_prompt([], catalogue, source="p.json")) == ["p.json: a prompt is a non-empty JSON object of node id -> node [invalid_prompt]"]
    assert messages(validate_prompt({"1": {"inputs": {}}}, catalogue, source="p.json"))[0] == "p.json: node 1 (None): a node needs 'class_type' and an 'inputs' object [invalid_prompt]"
    no_output = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}}}
    assert messages(validate_prompt(no_output, catalogue, source="p.json")) == ["p.json: the prompt has no output node, so nothing would run [prompt_no_outputs]"]
    loop = {"1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}, "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    assert messages(validate_prompt(loop, catalogue, source="p.json")) == ["p.json: node 1 (ImageInvert): the links form a loop: 1 <- 2 <- 1 [cycle]"]


def test_only_limits_input_checks_to_the_nodes_that_will_run(catalogue):
    prompt = good_prompt(steps=0)
    assert [i.kind for i in validate_prompt(prompt, catalogue, only={"5", "6"})] == []
    assert [i.kind for i in validate_prompt(prompt, catalogue, only={"4"})] == ["value_smaller_than_min"]


def test_outputs_are_checked_one_by_one_with_what_they_need_as_comfyui_does(catalogue):
    prompt = good_prompt()  # output 6 saves what the KSampler makes
    prompt["7"] = {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}}
    prompt["8"] = {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}}
    prompt["9"] = {"class_type": "ImageInvert", "inputs": {"image": "not a link"}}  # broken, but no output needs it
    prompt["10"] = {"class_type": "ImageInvert", "inputs": {"image": ["10", 0]}}  # a loop no output needs
    check = check_prompt(prompt, catalogue, source="g.json")
    assert (check.outputs, check.valid_outputs, check.refused) == (["6", "8"], ["6"], False)
    assert messages(check.issues) == ["g.json: node 7 (EmptyImage) input 'width': 0 is smaller than the minimum 1 [value_smaller_than_min]"]
    assert check.failed == {"8": check.issues} and check.issues[0].to_json()["dependent_outputs"] == ["8"]
    assert [i.node_id for i in validate_prompt(prompt, catalogue)] == ["7", "9", "10"]  # the whole prompt, unlike ComfyUI
    prompt["11"] = {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}}
    assert check_prompt(prompt, catalogue).issues[0].outputs == ("8", "11")
    prompt["6"]["inputs"]["filename_prefix"] = 5
    check = check_prompt(prompt, catalogue, source="g.json")
    assert check.refused and check.valid_outputs == [] and sorted(check.failed) == ["11", "6", "8"]
    unknown = {**good_prompt(), "20": {"class_type": "NoSuchNode", "inputs": {}}}  # needed by no output, yet the prompt is refused
    check = check_prompt(unknown, catalogue, source="g.json")
    assert check.refused and check.failed == {} and messages(check.fatal) == [
        "g.json: node 20 (NoSuchNode): node type 'NoSuchNode' does not exist (a missing custom node pack?) [invalid_prompt]"]
    no_output = check_prompt({"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}}, catalogue, source="p.json")
    assert no_output.refused and messages(no_output.issues) == ["p.json: the prompt has no output node, so nothing would run [prompt_no_outputs]"]
    injected = check_prompt(prompt, catalogue, outputs=["8"], stop_at={"7"})
    assert injected.valid_outputs == ["8"] and injected.issues == []  # an injected node is not checked


def test_numbers_are_cast_as_comfyui_casts_them_and_what_it_cannot_cast_gets_its_error(catalogue):
    prompt = good_prompt(cfg=7, steps="20", denoise={"__value__": 1})
    prompt["3"]["inputs"]["width"] = 512.0
    casts = {}
    assert validate_prompt(prompt, catalogue, casts=casts) == []
    assert casts == {"3": {"width": 512}, "4": {"steps": 20, "cfg": 7.0, "denoise": 1.0}}
    assert [type(v) for v in (casts["3"]["width"], casts["4"]["steps"], casts["4"]["cfg"], casts["4"]["denoise"])] == [int, int, float, float]
    assert prompt["4"]["inputs"]["cfg"] == 7 and type(prompt["4"]["inputs"]["cfg"]) is int  # the prompt given is left as it is
    bad = good_prompt(seed=float("inf"), steps={"n": 20}, cfg="high")
    assert messages(validate_prompt(bad, catalogue, source="g.json")) == [
        "g.json: node 4 (KSampler) input 'seed': Failed to convert an input value to a INT value: inf (cannot convert float infinity to integer) [invalid_input_type]",
        "g.json: node 4 (KSampler) input 'steps': Failed to convert an input value to a INT value: {'n': 20} "
        "(int() argument must be a string, a bytes-like object or a real number, not 'dict') [invalid_input_type]",
        "g.json: node 4 (KSampler) input 'cfg': Failed to convert an input value to a FLOAT value: 'high' (could not convert string to float: 'high') [invalid_input_type]",
    ]
    assert messages(validate_prompt(good_prompt(steps="0"), catalogue, source="g.json")) == [
        "g.json: node 4 (KSampler) input 'steps': 0 is smaller than the minimum 1 [value_smaller_than_min]",  # the cast value is checked
    ]


def test_file_names_are_accepted_only_for_nodes_that_cannot_run_here(catalogue):
    prompt = good_prompt()
    prompt["1"]["inputs"]["ckpt_name"] = "model"  # not a file name: the (empty) list cannot hold it either
    assert validate_prompt(prompt, catalogue) == []  # empty option lists are not checked
    vae = {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}}
    prompt["5"]["inputs"]["vae"] = ["20", 0]
    prompt["20"] = vae
    assert validate_prompt(prompt, catalogue) == []
    prompt["20"]["inputs"]["vae_name"] = "ae"
    assert [i.kind for i in validate_prompt(prompt, catalogue)] == ["value_not_in_list"]


def file_loading_prompt(image, depth):
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "EditLossLoadDepth", "inputs": {"file": depth, "space": "depth", "scale": 1.0}},
        "4": {"class_type": "EditLossDepthToImage", "inputs": {"depth": ["3", 0], "colours": "grey"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }


def test_input_files_come_from_the_input_folder_and_are_always_checked(tmp_path, monkeypatch):
    input_dir, working_dir, empty_dir = tmp_path / "input", tmp_path / "cwd", tmp_path / "empty"
    for folder in (input_dir, working_dir, empty_dir):
        folder.mkdir()
    for folder, stem in ((input_dir, "given"), (working_dir, "other"), (tmp_path, "secret")):
        Image.new("RGB", (4, 4)).save(folder / f"{stem}.png")
        np.save(folder / f"{stem}.npy", np.ones((4, 4), np.float32))
    monkeypatch.chdir(working_dir)  # files here must neither be offered nor hide those of the input folder
    env = Environment.create()

    def problems(image, depth, folder=input_dir):
        return messages(validate_workflow(file_loading_prompt(image, depth), env, input_dir=folder))

    assert problems("given.png", "given.npy") == []
    outside = f"image must name a file inside the input folder {input_dir}, not a path outside it"
    assert problems("../secret.png", "../secret.npy") == [
        f"<workflow>: node 1 (LoadImage) input 'image': Invalid image file: ../secret.png: {outside} [custom_validation_failed]",
        "<workflow>: node 3 (EditLossLoadDepth) input 'file': '../secret.npy' is not one of 'given.npy', 'given.png' [value_not_in_list]",
    ]
    secret = str(tmp_path / "secret")
    assert problems(secret + ".png", secret + ".npy") == [
        f"<workflow>: node 1 (LoadImage) input 'image': Invalid image file: {secret}.png: {outside} [custom_validation_failed]",
        f"<workflow>: node 3 (EditLossLoadDepth) input 'file': '{secret}.npy' is not one of 'given.npy', 'given.png' [value_not_in_list]",
    ]
    assert problems("other.png", "other.npy")[1].endswith("'other.npy' is not one of 'given.npy', 'given.png' [value_not_in_list]")
    assert problems("given.png", "given.npy", empty_dir) == [
        "<workflow>: node 1 (LoadImage) input 'image': Invalid image file: given.png [custom_validation_failed]",
        "<workflow>: node 3 (EditLossLoadDepth) input 'file': 'given.npy' is not an option: the list of options is empty [value_not_in_list]",
    ]


# --------------------------------------------------------------------------------------------
# Lint
# --------------------------------------------------------------------------------------------


class Sloppy:
    RETURN_TYPES = ("FLOAT", "IMAGE")
    RETURN_NAMES = ("a",)
    OUTPUT_IS_LIST = (False, False, False)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("FLOAT", {}), "y": ("INT", {"tooltip": "y"})}, "optional": {"x": ("FLOAT", {"tooltip": "again"}), "z": ("MASK", {"tooltip": "z"})}}

    def go(self, x, z):
        return (x, None)


class NoRequired:
    DESCRIPTION = "d"
    CATEGORY = "c"
    RETURN_TYPES = ()
    FUNCTION = "missing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"optional": {}}


class Broken:
    @classmethod
    def INPUT_TYPES(cls):
        raise KeyError("oops")


def test_lint_finds_every_problem_of_a_class():
    core = Catalogue.core()
    assert [str(p) for p in lint_class("ImageScale", Sloppy, prefix="EditLoss", core=core)] == [
        "ImageScale: node id does not start with the pack's prefix 'EditLoss'",
        "ImageScale: node id clashes with a core ComfyUI node of the same name",
        "ImageScale: input 'x' has no tooltip",
        "ImageScale: input 'x' is declared twice (required and optional)",
        "ImageScale: RETURN_NAMES has 1 entries but RETURN_TYPES has 2",
        "ImageScale: OUTPUT_IS_LIST has 3 entries but RETURN_TYPES has 2",
        "ImageScale: OUTPUT_TOOLTIPS is missing",
        "ImageScale: DESCRIPTION is missing",
        "ImageScale: CATEGORY is missing",
        "ImageScale: go() does not accept input 'y'",
        "ImageScale: go() needs a default for optional input 'x' (it may not be given)",
        "ImageScale: go() needs a default for optional input 'z' (it may not be given)",
    ]
    assert [str(p) for p in lint_class("EditLossX", NoRequired)] == [
        "EditLossX: INPUT_TYPES() must return a dict with a 'required' section",
        "EditLossX: FUNCTION 'missing' is not a method of the class",
    ]
    assert [str(p) for p in lint_class("EditLossY", Broken)] == ["EditLossY: INPUT_TYPES() raised KeyError: 'oops'"]


def test_our_pack_lints_clean(pack):
    from comfy_editloss.graph.pack import this_pack_path

    loaded = load_pack(this_pack_path())
    assert loaded.module is pack  # the same module ComfyUI-style loading gives
    assert lint_pack(loaded, prefix="EditLoss", core=Catalogue.core()) == []


def test_load_pack_errors(tmp_path):
    with pytest.raises(PackLoadError, match=r"not a node pack: it has no __init__.py$"):
        load_pack(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "__init__.py").write_text("raise RuntimeError('no torch here')\n")
    with pytest.raises(PackLoadError, match=r"bad: importing the pack failed: RuntimeError: no torch here$"):
        load_pack(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "__init__.py").write_text("X = 1\n")
    with pytest.raises(PackLoadError, match=r"the pack does not export NODE_CLASS_MAPPINGS"):
        load_pack(tmp_path / "empty")


def test_missing_and_file_packs_are_refused_by_name_as_value_errors(tmp_path):
    (tmp_path / "file.py").write_text("")
    for path, message in ((tmp_path / "missing", "no such folder"), (tmp_path / "file.py", "a file, not a folder")):
        with pytest.raises(PackLoadError, match=rf"^{path}: not a node pack: {message}$") as info:
            load_pack(path)
        assert isinstance(info.value, ImportError) and isinstance(info.value, ValueError)
    with pytest.raises(TypeError, match=r"^host_nodes must be True or False, got str 'yes'$"):
        Environment.create([], host_nodes="yes")
    with pytest.raises(TypeError, match=r"^packs must be a list of node pack folders, got int 3$"):
        Environment.create(3)


def test_validate_workflow_reports_broken_dicts_and_api_nodes_as_issues_of_the_workflow(tmp_path):
    issues = validate_workflow({"nodes": [{"id": [1], "type": "PreviewAny"}]}, input_dir=tmp_path)
    assert [str(i) for i in issues] == ["<workflow>: a node id must be an integer or a non-empty string, got list [1] [invalid_prompt]"]
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}, "2": {"class_type": "PreviewAny", "inputs": [["1", 0]]}}
    issues = validate_workflow(prompt, input_dir=tmp_path)  # list inputs: an issue, not an AttributeError
    assert [(i.kind, i.node_id) for i in issues if i.kind == "invalid_prompt"] == [("invalid_prompt", "2")]
    with pytest.raises(TypeError, match=r"^source must be a name \(a str\) for messages, got int 3$"):
        validate_workflow(prompt, source=3, input_dir=tmp_path)
    with pytest.raises(ValueError, match=rf"^input_dir {tmp_path}/missing: no such folder$"):
        validate_workflow(prompt, input_dir=tmp_path / "missing")

"""The runner's execution semantics, on small hand-made node classes."""

from __future__ import annotations

import json
import os
import re
import threading

import pytest
import torch
from PIL import Image

from comfy_editloss.graph.catalogue import Catalogue
from comfy_editloss.graph.execute import Interrupted, NodeExecutionError, NotRunnableError, Runner, check_output, describe_value, fingerprint
from comfy_editloss.graph.host import HOST_NODES, HostFolders, using_folders
from comfy_editloss.graph.validate import PromptValidationError

CALLS: list[str] = []


def _node(name, inputs, outputs, function, output_node=False, **extra):
    def INPUT_TYPES(cls):
        return inputs

    attributes = {"INPUT_TYPES": classmethod(INPUT_TYPES), "RETURN_TYPES": outputs, "FUNCTION": "run", "CATEGORY": "test",
                  "OUTPUT_NODE": output_node, "run": function, **extra}
    return type(name, (), attributes)


def _const(self, value):
    CALLS.append(f"Const({value})")
    return (float(value),)


def _add(self, a, b):
    CALLS.append("Add")
    return (a + b,)


def _show(self, value, unique_id=None):
    CALLS.append("Show")
    return {"ui": {"text": [f"{unique_id}={value}"]}, "result": (value,)}


def _split(self, count):
    return ([float(i) for i in range(count)],)


def _total(self, values):
    return (float(sum(values)),)


def _double(self, value):
    return (value * 2,)


def _fail(self, value):
    raise ValueError("this node always fails")


def _image(self, value):
    return (torch.full((1, 4, 4, 3), value),)


def _mutate(self, image):
    image.add_(1)
    return (image,)


def _ramp(self, value):
    return (torch.linspace(0.0, 1.0, 48).reshape(1, 4, 4, 3),)


def _flip_rows(self, image):
    image.copy_(image.flip(1))  # the same values in another order: sums cannot tell
    return (image,)


def _echo(self, value, count):
    return (value, count)


def _counter(self, seed):
    CALLS.append(f"Counter({seed})")
    return (float(seed),)


CLASSES = {
    "TConst": _node("TConst", {"required": {"value": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0})}}, ("FLOAT",), _const),
    "TAdd": _node("TAdd", {"required": {"a": ("FLOAT", {"forceInput": True}), "b": ("FLOAT", {"forceInput": True})}}, ("FLOAT",), _add),
    "TShow": _node("TShow", {"required": {"value": ("*", {})}, "hidden": {"unique_id": "UNIQUE_ID"}}, ("*",), _show, output_node=True),
    "TSplit": _node("TSplit", {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100})}}, ("FLOAT",), _split, OUTPUT_IS_LIST=(True,)),
    "TTotal": _node("TTotal", {"required": {"values": ("FLOAT", {"forceInput": True})}}, ("FLOAT",), _total, INPUT_IS_LIST=True),
    "TDouble": _node("TDouble", {"required": {"value": ("FLOAT", {"forceInput": True})}}, ("FLOAT",), _double),
    "TFail": _node("TFail", {"required": {"value": ("FLOAT", {"forceInput": True})}}, ("FLOAT",), _fail),
    "TImage": _node("TImage", {"required": {"value": ("FLOAT", {"default": 0.5, "min": -10.0, "max": 10.0})}}, ("IMAGE",), _image),
    "TMutate": _node("TMutate", {"required": {"image": ("IMAGE", {})}}, ("IMAGE",), _mutate),
    "TRamp": _node("TRamp", {"required": {"value": ("FLOAT", {"default": 0.0})}}, ("IMAGE",), _ramp),
    "TFlipRows": _node("TFlipRows", {"required": {"image": ("IMAGE", {})}}, ("IMAGE",), _flip_rows),
    "TEcho": _node("TEcho", {"required": {"value": ("FLOAT", {"default": 0.0}), "count": ("INT", {"default": 0})}}, ("FLOAT", "INT"), _echo),
    "TCounter": _node("TCounter", {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 100})}}, ("FLOAT",), _counter,
                      IS_CHANGED=classmethod(lambda cls, seed: float("nan") if seed == 99 else seed)),
}


@pytest.fixture
def runner():
    CALLS.clear()
    return Runner(CLASSES, Catalogue.core().with_classes(CLASSES))


def const(v):
    return {"class_type": "TConst", "inputs": {"value": v}}


def test_only_ancestors_of_output_nodes_run_in_a_deterministic_order(runner):
    prompt = {
        "10": const(2.0),
        "2": const(3.0),
        "3": {"class_type": "TAdd", "inputs": {"a": ["10", 0], "b": ["2", 0]}},
        "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}},
        "5": const(7.0),  # feeds nothing that is shown: never runs
    }
    result = runner.run(prompt)
    assert result.executed == ["2", "10", "3", "4"]
    assert CALLS == ["Const(3.0)", "Const(2.0)", "Add", "Show"]
    assert result.ui == {"4": {"text": ["4=5.0"]}}  # the hidden UNIQUE_ID was filled in
    assert result.output("4") == 5.0 and "5" not in result.outputs
    only_five = runner.run(prompt, targets=["5"])
    assert only_five.executed == ["5"]


def test_nodes_run_under_inference_mode(runner):
    seen = {}

    def spy(self, value):
        seen["inference"] = torch.is_inference_mode_enabled()
        return (value,)

    classes = {**CLASSES, "TSpy": _node("TSpy", {"required": {"value": ("FLOAT", {"forceInput": True})}}, ("FLOAT",), spy)}
    Runner(classes, Catalogue.core().with_classes(classes)).run(
        {"1": const(1.0), "2": {"class_type": "TSpy", "inputs": {"value": ["1", 0]}}, "3": {"class_type": "TShow", "inputs": {"value": ["2", 0]}}}
    )
    assert seen == {"inference": True}


def test_output_is_list_and_input_is_list_mapping(runner):
    prompt = {
        "1": {"class_type": "TSplit", "inputs": {"count": 4}},
        "2": {"class_type": "TDouble", "inputs": {"value": ["1", 0]}},  # runs once per item
        "3": {"class_type": "TTotal", "inputs": {"values": ["2", 0]}},  # sees the whole list
        "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "TShow", "inputs": {"value": ["2", 0]}},
    }
    result = runner.run(prompt)
    assert result.outputs["1"] == ([0.0, 1.0, 2.0, 3.0],)
    assert result.outputs["2"] == ([0.0, 2.0, 4.0, 6.0],)
    assert result.output("3") == 12.0
    assert result.ui["5"] == {"text": ["5=0.0", "5=2.0", "5=4.0", "5=6.0"]}  # ui of every call, merged


def test_unchanged_nodes_are_cached_across_runs_and_is_changed_is_honoured(runner):
    prompt = {"1": {"class_type": "TCounter", "inputs": {"seed": 5}}, "2": const(1.0),
              "3": {"class_type": "TAdd", "inputs": {"a": ["1", 0], "b": ["2", 0]}}, "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}}
    first = runner.run(prompt)
    assert first.executed == ["1", "2", "3", "4"] and first.cached == []
    again = runner.run(prompt)
    assert again.executed == [] and again.cached == ["1", "2", "3", "4"]
    assert again.ui == first.ui and again.output("3") == 6.0
    prompt["2"] = const(2.0)  # only what depends on the change runs again
    changed = runner.run(prompt)
    assert changed.executed == ["2", "3", "4"] and changed.cached == ["1"]
    prompt["1"]["inputs"]["seed"] = 99  # IS_CHANGED returns NaN: never cached
    assert "1" in runner.run(prompt).executed and "1" in runner.run(prompt).executed


def test_the_cache_keeps_only_the_last_outputs_of_each_node(runner):
    # As ComfyUI's classic cache: going back to an earlier value runs the node again, so a long
    # session of edits holds one set of outputs per node, not one per value ever tried.
    prompt = {"1": const(1.0), "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}}}
    runner.run(prompt)
    prompt["1"] = const(2.0)
    runner.run(prompt)
    prompt["1"] = const(1.0)
    assert runner.run(prompt).executed == ["1", "2"]
    assert runner.run(prompt).executed == []


def test_the_first_failing_node_is_reported_with_its_inputs(runner):
    prompt = {"1": {"class_type": "TImage", "inputs": {"value": 0.25}}, "2": const(1.5),
              "3": {"class_type": "TFail", "inputs": {"value": ["2", 0]}}, "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}},
              "5": {"class_type": "TShow", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(NodeExecutionError) as info:
        runner.run(prompt, source="graph.json")
    error = info.value
    assert (error.node_id, error.class_type) == ("3", "TFail")
    assert isinstance(error.error, ValueError)
    assert str(error) == "graph.json: node 3 (TFail) failed: ValueError: this node always fails\n    value: 1.5"
    assert CALLS == ["Const(1.5)"]  # nodes 1 and 2 ran (TImage records no call); 4 and 5 never did


def test_contracts_of_outputs_are_checked(runner):
    def bad_image(self, value):
        return (torch.zeros(1, 4, 4, 4),)

    def bad_float(self, value):
        return (torch.tensor(1.0),)

    def bright(self, value):
        return (torch.full((1, 2, 2, 3), 1.5),)

    classes = {**CLASSES,
               "TBadImage": _node("TBadImage", {"required": {"value": ("FLOAT", {"default": 0.0})}}, ("IMAGE",), bad_image),
               "TBadFloat": _node("TBadFloat", {"required": {"value": ("FLOAT", {"default": 0.0})}}, ("FLOAT",), bad_float),
               "TBright": _node("TBright", {"required": {"value": ("FLOAT", {"default": 0.0})}}, ("IMAGE",), bright)}
    run = Runner(classes, Catalogue.core().with_classes(classes), range_checked={"TBright"})

    def show(class_type):
        return {"1": {"class_type": class_type, "inputs": {"value": 0.0}}, "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}}}

    with pytest.raises(NodeExecutionError, match=r"node 1 \(TBadImage\) failed: output 0 \(IMAGE\): IMAGE must be a float32 tensor \[B,H,W,3\] on the CPU, got tensor torch.float32 \[1, 4, 4, 4\] on cpu"):
        run.run(show("TBadImage"))
    with pytest.raises(NodeExecutionError, match=r"output 0 \(FLOAT\): FLOAT must be a Python float, got tensor torch.float32 \[\] on cpu"):
        run.run(show("TBadFloat"))
    with pytest.raises(NodeExecutionError, match=r"IMAGE values must be in \[0, 1\], got \[1.5, 1.5\]"):
        run.run(show("TBright"))
    relaxed = Runner(classes, Catalogue.core().with_classes(classes), range_checked=set())
    assert relaxed.run(show("TBright")).output("1").max() == 1.5  # ranges only for the listed types


def test_in_place_modification_of_an_input_is_caught(runner):
    prompt = {"1": {"class_type": "TImage", "inputs": {"value": 0.0}}, "2": {"class_type": "TMutate", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "TShow", "inputs": {"value": ["2", 0]}}}
    with pytest.raises(NodeExecutionError, match=r"^<prompt>: node 2 \(TMutate\) failed: modified its input 'image' in place"):
        runner.run(prompt)


def test_an_input_permuted_in_place_is_caught_however_small():
    runner = Runner(CLASSES, Catalogue.core().with_classes(CLASSES))
    prompt = {"1": {"class_type": "TRamp", "inputs": {"value": 0.0}}, "2": {"class_type": "TFlipRows", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "TShow", "inputs": {"value": ["2", 0]}}}
    with pytest.raises(NodeExecutionError, match=r"^<prompt>: node 2 \(TFlipRows\) failed: modified its input 'image' in place"):
        runner.run(prompt)
    assert fingerprint(torch.tensor(1.0)) != fingerprint(torch.tensor(2.0))  # 0-d tensors too
    assert fingerprint(torch.zeros(0, 3)) != fingerprint(torch.zeros(3, 0))


def test_number_widgets_reach_the_node_and_the_saved_prompt_cast_as_in_comfyui(tmp_path):
    classes = {**CLASSES, "SaveImage": HOST_NODES["SaveImage"]}
    runner = Runner(classes, Catalogue.core().with_classes(classes))
    prompt = {"1": {"class_type": "TEcho", "inputs": {"value": 1, "count": 2.0}}, "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "TShow", "inputs": {"value": ["1", 1]}},
              "4": {"class_type": "TImage", "inputs": {"value": 1}}, "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "cast"}}}
    with using_folders(HostFolders(tmp_path, tmp_path / "output", tmp_path / "temp")):
        result = runner.run(prompt)
    value, count = result.output("1", 0), result.output("1", 1)
    assert (value, type(value), count, type(count)) == (1.0, float, 2, int)
    assert result.ui["2"] == {"text": ["2=1.0"]} and result.ui["3"] == {"text": ["3=2"]}
    with Image.open(tmp_path / "output" / "cast_00001_.png") as png:
        saved = png.text["prompt"]
    assert '"inputs": {"value": 1.0, "count": 2}' in saved and '"inputs": {"value": 1.0}' in saved  # what ComfyUI writes
    assert json.loads(saved)["2"] == prompt["2"]
    assert type(prompt["1"]["inputs"]["value"]) is int  # the caller's prompt is left as it is


def test_check_output_contracts():
    assert check_output("MASK", torch.zeros(1, 4, 4)) is None
    assert check_output("MASK", torch.zeros(4, 4)).startswith("MASK must be a float32 tensor [B,H,W]")
    assert check_output("INT", True).startswith("INT must be a Python int")
    assert check_output("LATENT", {"samples": torch.zeros(1, 4, 2, 2)}) is None
    assert describe_value([torch.zeros(2, 3)]) == "tensor torch.float32 [2, 3] on cpu"


def test_injected_outputs_replace_nodes_that_cannot_run(runner):
    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": 1}}, "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}},
              "3": const(2.0), "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}}
    assert list(runner.run(prompt).skipped) == ["2"]  # the KSampler is incomplete, and it would have to run
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    result = runner.run(prompt, inject={("1", 0): latent})
    assert result.output("2") is latent and "1" not in result.executed
    runnable = {"1": {"class_type": "LatentUpscale", "inputs": {"samples": ["5", 0], "upscale_method": "bilinear", "width": 64, "height": 64, "crop": "disabled"}},
                "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
                "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(NotRunnableError, match=r"^<prompt>: node\(s\) 5 \(EmptyLatentImage\), 1 \(LatentUpscale\) cannot run here"):
        runner.run(runnable)
    with pytest.raises(NodeExecutionError, match=r"input 'value' needs output 1 of node 1, which was not injected"):
        runner.run({"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
                    "2": {"class_type": "TShow", "inputs": {"value": ["1", 1]}}}, inject={("1", 0): "model"})
    with pytest.raises(NodeExecutionError, match=r"injected output 0: LATENT must be a dict with a 'samples' tensor"):
        runner.run(prompt, inject={("1", 0): torch.zeros(1)})


def test_interrupt_stops_before_the_next_node(runner):
    started = threading.Event()

    def slow(self, value):
        started.set()
        runner.interrupt()  # as if a user pressed Ctrl-C during this node
        return (value,)

    classes = {**CLASSES, "TSlow": _node("TSlow", {"required": {"value": ("FLOAT", {"default": 0.0})}}, ("FLOAT",), slow)}
    runner = Runner(classes, Catalogue.core().with_classes(classes))
    prompt = {"1": {"class_type": "TSlow", "inputs": {"value": 1.0}}, "2": {"class_type": "TDouble", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "TShow", "inputs": {"value": ["2", 0]}}}
    with pytest.raises(Interrupted, match=r"interrupted before node 2 \(TDouble\)"):
        runner.run(prompt)
    assert started.is_set()


def test_outputs_that_fail_validation_are_skipped_and_the_others_run(runner):
    prompt = {"1": const(11.0), "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}},
              "3": const(2.0), "4": {"class_type": "TDouble", "inputs": {"value": ["3", 0]}}, "5": {"class_type": "TShow", "inputs": {"value": ["4", 0]}},
              "6": {"class_type": "TDouble", "inputs": {"value": "x"}},  # broken, but no output needs it
              "7": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}}
    result = runner.run(prompt)
    assert result.executed == ["3", "4", "5", "7"] and result.output("5") == 4.0
    problem = "<prompt>: node 1 (TConst) input 'value': 11.0 is bigger than the maximum 10.0 [value_bigger_than_max]"
    assert {k: [str(i) for i in v] for k, v in result.skipped.items()} == {"2": [problem]}
    assert result.skipped["2"][0].outputs == ("2",)
    for left_out in ("1", "2"):
        with pytest.raises(PromptValidationError, match=f"^{re.escape(problem)}$"):
            result.output(left_out)
    with pytest.raises(KeyError):
        result.output("6")  # needed by nothing: not a validation matter


def test_validation_failures_stop_the_run_before_anything_executes(runner):
    with pytest.raises(PromptValidationError) as info:
        runner.run({"1": const(11.0), "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}}})
    assert [i.kind for i in info.value.issues] == ["value_bigger_than_max"] and CALLS == []


def test_runner_options_of_the_wrong_type_are_refused_by_name():
    cases = [
        (dict(classes=[1]), r"^classes must be a dict of node type -> node class, got list \[1\]$"),
        (dict(classes={"TConst": 3}), r"^classes must map node type names to node classes, got 'TConst': int 3$"),
        (dict(classes=CLASSES, catalogue={}), r"^catalogue must be a Catalogue \(or None: the core nodes and classes\), got dict \{\}$"),
        (dict(classes=CLASSES, check_contracts="yes"), r"^check_contracts must be True or False, got str 'yes'$"),
        (dict(classes=CLASSES, range_checked="TConst"), r"^range_checked must be a set of node type names \(or None: every node\), got str 'TConst'$"),
        (dict(classes=CLASSES, progress=3), r"^progress must be a function progress\(node_id, class_type, done, total\) or None, got int 3$"),
    ]
    for options, message in cases:
        with pytest.raises(TypeError, match=message):
            Runner(**options)


def test_run_arguments_of_the_wrong_type_are_refused_by_name(runner):
    prompt = {"3": const(2.0), "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}}
    cases = [
        (dict(validate=1), TypeError, r"^validate must be True or False, got int 1$"),
        (dict(extra_pnginfo=3), TypeError, r"^extra_pnginfo must be a dict \(what SaveImage embeds\) or None, got int 3$"),
        (dict(inject=[("3", 0)]), TypeError, r"^inject must be a dict of \(node_id, slot\) -> value, got list"),
        (dict(inject={"3": 1.0}), TypeError, r"^inject keys must be \(node_id, slot\) pairs, got str '3'$"),
        (dict(inject={("3", "0"): 1.0}), TypeError, r"^inject key \('3', '0'\): the slot must be an int, got str '0'$"),
        (dict(inject={("3", True): 1.0}), TypeError, r"^inject key \('3', True\): the slot must be an int, got bool True$"),
        (dict(inject={("3", -1): 1.0}), ValueError, r"^inject key \('3', -1\): the slot must be >= 0, got -1$"),
        (dict(targets="4"), TypeError, r"^targets must be a list of node ids, got str '4'$"),
        (dict(targets=["9"]), ValueError, r"^<prompt>: targets: node 9 is not in the prompt$"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            runner.run(prompt, **options)
    with pytest.raises(TypeError, match=r"^<prompt>: prompt must be an API prompt \(a dict of node id -> node\), got list \[1\]$"):
        runner.run([1])


def test_injected_values_are_checked_before_anything_runs(runner):
    from comfy_editloss.graph.execute import InjectionError  # noqa: PLC0415

    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": 1}}, "2": {"class_type": "TShow", "inputs": {"value": ["1", 0]}},
              "3": const(2.0), "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}}
    for inject, message in (({("1", 0): torch.zeros(1)}, "injected output 0: LATENT must be a dict with a 'samples' tensor, got tensor torch.float32 [1] on cpu"),
                            ({("1", 3): {"samples": torch.zeros(1, 4, 2, 2)}}, "cannot inject output 3: it has 1 output(s)")):
        CALLS.clear()
        with pytest.raises(InjectionError, match=rf"^<prompt>: node 1 \(KSampler\): {re.escape(message)}$") as info:
            runner.run(prompt, inject=inject)
        assert isinstance(info.value, ValueError) and isinstance(info.value, NodeExecutionError) and info.value.node_id == "1"
        assert CALLS == []  # refused before node 3 ran
    assert issubclass(NotRunnableError, ValueError)  # a workflow that needs more than is loaded: bad input


def test_output_of_a_node_or_slot_the_run_has_not_is_a_clear_error(runner):
    from comfy_editloss.graph.execute import MissingOutputError  # noqa: PLC0415

    result = runner.run({"3": const(2.0), "4": {"class_type": "TShow", "inputs": {"value": ["3", 0]}}})
    assert result.output(3) == 2.0
    with pytest.raises(MissingOutputError, match=r"^node_id '9': no such node ran \(or was injected\) in this run; the nodes that did: 3, 4$") as info:
        result.output("9")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(MissingOutputError, match=r"^slot 1: node 3 has output\(s\) 0 to 0$"):
        result.output("3", 1)
    with pytest.raises(MissingOutputError, match=r"^slot -1: node 3 has output\(s\) 0 to 0$"):
        result.output("3", -1)
    with pytest.raises(TypeError, match=r"^slot must be an int, got bool True$"):
        result.output("3", True)
    with pytest.raises(TypeError, match=r"^node_id must be a node id \(a str or an int\), got list \['3'\]$"):
        result.output(["3"])


def test_output_of_a_node_without_outputs_says_so(tmp_path):
    from comfy_editloss.graph.execute import MissingOutputError  # noqa: PLC0415
    from comfy_editloss.testing import run_workflow  # noqa: PLC0415

    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}))
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    result = run_workflow(wf, output_dir=tmp_path / "out")
    assert "images" in result.ui["2"]
    with pytest.raises(MissingOutputError, match=r"^slot 0: node 2 has no outputs \(an output node: what it shows is in ui\['2'\]\)$"):
        result.output("2")


def test_run_workflow_refuses_bad_injections_folders_and_helpers_by_name(tmp_path):
    from comfy_editloss.testing import Environment, run_workflow  # noqa: PLC0415

    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}))
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "file.txt").write_text("x")
    os.mkfifo(tmp_path / "fifo.png")
    out = tmp_path / "out"
    cases = [
        (dict(inject="1:0=a.png"), TypeError, r"^inject must be a dict of 'NODE:SLOT' \(or \(node_id, slot\)\) -> file or value, got str '1:0=a.png'$"),
        (dict(inject={2.5: "a.png"}), TypeError, r"^inject keys must be 'NODE:SLOT' or \(node_id, slot\), got float 2.5$"),
        (dict(inject={"1:0": tmp_path / "missing.png"}), ValueError, rf"^cannot inject {re.escape(str(tmp_path))}/missing.png as output 0 \(IMAGE\) of node 1 \(LoadImage\): no such file$"),
        (dict(inject={"1:0": tmp_path / "fifo.png"}), ValueError, r"fifo.png as output 0 \(IMAGE\) of node 1 \(LoadImage\): is a named pipe \(FIFO\), not a file$"),
        (dict(inject={"1:1": tmp_path}), ValueError, r"as output 1 \(MASK\) of node 1 \(LoadImage\): is a folder \(a folder of images is injected only as an IMAGE batch, this output is MASK\)$"),
        (dict(input_dir=tmp_path / "missing"), ValueError, rf"^input_dir {re.escape(str(tmp_path))}/missing: no such folder$"),
        (dict(input_dir=tmp_path / "file.txt"), ValueError, r"^input_dir .*/file.txt: is a file, not a folder$"),
        (dict(input_dir=3), TypeError, r"^input_dir must be the path of a folder \(a str or a Path\), got int 3$"),
        (dict(output_dir=tmp_path / "file.txt" / "sub"), ValueError, r"^output_dir .*/file.txt/sub: cannot be made: .*/file.txt is a file$"),
        (dict(runner="r"), TypeError, r"^runner must be a Runner \(env.runner\(\)\), got str 'r'$"),
        (dict(env="e"), TypeError, r"^env must be an Environment \(Environment.create\(packs\)\), got str 'e'$"),
        (dict(env=Environment.create(), packs=[]), ValueError, r"^give packs or env, not both"),
        (dict(packs=str(tmp_path)), TypeError, r"^packs must be a list of node pack folders, got str .*; put the folder in a list$"),
        (dict(packs=[3]), TypeError, r"^packs\[0\] must be the path of a node pack folder, got int 3$"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            run_workflow(wf, **{"output_dir": out, **options})
    with pytest.raises(TypeError, match=r"^workflow must be the path of a workflow file or its JSON as a dict, got int 3$"):
        run_workflow(3)
    assert run_workflow(wf, output_dir=tmp_path / "new" / "out").executed == ["1", "2"]  # a missing output folder is made

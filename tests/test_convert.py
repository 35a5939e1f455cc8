"""UI -> API conversion: the real frontend's output for 50 workflows, and one fixture per rule."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest
from workflow_builder import inp, node, out, subgraph, workflow

from comfy_editloss.graph import convert as convert_module
from comfy_editloss.graph.catalogue import Catalogue, NodeSpec, core_object_info
from comfy_editloss.graph.convert import (
    MAX_EXPANDED_NODES,
    MAX_JSON_DEPTH,
    MAX_SUBGRAPH_DEPTH,
    ConversionError,
    convert,
    is_valid_connection,
    load_json,
    read_workflow_text,
    widget_layout,
)

DATA = Path(__file__).parent / "data"
CONVERSIONS = DATA / "conversions"
PAIRS = sorted(p.name[: -len(".ui.json")] for p in CONVERSIONS.glob("*.ui.json"))


@pytest.fixture(scope="module")
def catalogue():
    info = dict(core_object_info())
    info.update(json.loads((DATA / "object_info_toy_nodes.json").read_text()))  # for toy_*.json
    return Catalogue.from_object_info(info)


def _by_value(x):
    """The README's comparison: numbers by value (JavaScript writes 1.0 as 1), keys unordered."""
    if isinstance(x, bool):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if isinstance(x, dict):
        return {k: _by_value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_by_value(v) for v in x]
    return x


def test_all_pairs_are_here():
    assert len(PAIRS) == 50


@pytest.mark.parametrize("name", PAIRS)
def test_reproduces_the_frontends_prompt(catalogue, name):
    ui = json.loads((CONVERSIONS / f"{name}.ui.json").read_text())
    expected = json.loads((CONVERSIONS / f"{name}.api.json").read_text())
    got = convert(ui, catalogue, source=name)
    assert sorted(got) == sorted(expected)
    for node_id, entry in expected.items():
        assert got[node_id]["class_type"] == entry["class_type"], node_id
        assert _by_value(got[node_id]["inputs"]) == _by_value(entry["inputs"]), node_id
        # Titles are ignored by the server; ours agree with the frontend's on all 50 files.
        assert got[node_id]["_meta"] == entry["_meta"], node_id


# --------------------------------------------------------------------------------------------
# One fixture per rule
# --------------------------------------------------------------------------------------------


def _text_to_image(version=0.4, ksampler_values=None):
    nodes = [
        node(1, "CheckpointLoaderSimple", outputs=[out("MODEL", "MODEL", [1]), out("CLIP", "CLIP", [2, 3]), out("VAE", "VAE", [7])], widgets_values=["model.safetensors"]),
        node(2, "CLIPTextEncode", [inp("clip", "CLIP", 2)], [out("CONDITIONING", "CONDITIONING", [4])], ["a cat"]),
        node(3, "CLIPTextEncode", [inp("clip", "CLIP", 3)], [out("CONDITIONING", "CONDITIONING", [5])], ["blurry"], title="Negative"),
        node(4, "EmptyLatentImage", [], [out("LATENT", "LATENT", [6])], [512, 768, 1]),
        node(5, "KSampler", [inp("model", "MODEL", 1), inp("positive", "CONDITIONING", 4), inp("negative", "CONDITIONING", 5), inp("latent_image", "LATENT", 6)],
             [out("LATENT", "LATENT", [8])], ksampler_values if ksampler_values is not None else [42, "randomize", 20, 7.5, "euler", "normal", 1.0]),
        node(6, "VAEDecode", [inp("samples", "LATENT", 8), inp("vae", "VAE", 7)], [out("IMAGE", "IMAGE", [9])]),
        node(7, "SaveImage", [inp("images", "IMAGE", 9)], [], ["out"]),
        node(8, "MarkdownNote", [], [], ["# how to use"]),
        node(9, "Note", [], [], ["a note"]),
    ]
    links = [[1, 1, 0, 5, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 1, 1, 3, 0, "CLIP"], [4, 2, 0, 5, 1, "CONDITIONING"],
             [5, 3, 0, 5, 2, "CONDITIONING"], [6, 4, 0, 5, 3, "LATENT"], [7, 1, 2, 6, 1, "VAE"], [8, 5, 0, 6, 0, "LATENT"], [9, 6, 0, 7, 0, "IMAGE"]]
    return workflow(nodes, links, version=version)


EXPECTED_TEXT_TO_IMAGE = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
    "5": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
                                                 "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    "7": {"class_type": "SaveImage", "inputs": {"filename_prefix": "out", "images": ["6", 0]}},
}


def _strip(prompt):
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("version", [0.4, 1])
def test_schema_04_array_links_and_10_object_links(catalogue, version):
    prompt = convert(_text_to_image(version), catalogue)
    assert _strip(prompt) == EXPECTED_TEXT_TO_IMAGE  # seed control value dropped, notes dropped
    assert prompt["3"]["_meta"] == {"title": "Negative"} and prompt["2"]["_meta"] == {"title": "CLIP Text Encode (Prompt)"}


def test_missing_widget_values_take_the_catalogue_defaults(catalogue):
    prompt = convert(_text_to_image(ksampler_values=[7]), catalogue)
    assert prompt["5"]["inputs"]["seed"] == 7
    assert {k: prompt["5"]["inputs"][k] for k in ("steps", "cfg", "sampler_name", "scheduler", "denoise")} == {
        "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "simple", "denoise": 1
    }


def test_widget_values_saved_by_name(catalogue):
    values = {"seed": 5, "steps": 3, "cfg": 2.0, "sampler_name": "ddim", "scheduler": "karras", "denoise": 0.5}
    prompt = convert(_text_to_image(ksampler_values=values), catalogue)
    assert {k: prompt["5"]["inputs"][k] for k in values} == {**values, "cfg": 2}


def test_widget_layout_companions_and_force_input(catalogue):
    names = lambda t: [(s.name, s.in_prompt) for s in widget_layout(catalogue.get(t))]  # noqa: E731
    assert names("KSampler")[:2] == [("seed", True), ("control_after_generate", False)]
    assert names("RandomNoise") == [("noise_seed", True), ("control_after_generate", False)]
    assert names("LoadImage") == [("image", True), ("upload", False)]
    assert names("LoadImageMask") == [("image", True), ("channel", True), ("upload", False)]
    assert names("WanMoveTracksFromCoords") == []  # its only widget-type input is forceInput: a socket
    assert names("PreviewAny") == [("preview", True), ("previewMode", True)]


def test_saved_nulls_are_assigned_and_preview_any_takes_the_first_value(catalogue):
    """As ComfyUI's frontend 1.35.9 does (checked in a browser): a null in widgets_values becomes the
    widget's value and is sent; PreviewAny's two preview widgets are not saved, so its first saved
    value goes to previewMode."""
    ui = workflow([
        node(1, "EmptyLatentImage", [], [out("LATENT", "LATENT")], [None, 640, 2]),
        node(2, "PreviewAny", [inp("source", "*", None)], [], ["x", True]),
        node(3, "PreviewAny", [inp("source", "*", None)], [], [None, None, False]),
    ], [])
    prompt = convert(ui, catalogue)
    assert prompt["1"]["inputs"] == {"width": None, "height": 640, "batch_size": 2}
    assert prompt["2"]["inputs"] == {"preview": "", "previewMode": "x"}
    assert prompt["3"]["inputs"] == {"preview": "", "previewMode": None}


def test_force_input_takes_no_widget_slot(catalogue):
    class Forced:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"a": ("INT", {"default": 1}), "b": ("FLOAT", {"forceInput": True}), "c": ("STRING", {"default": "x"})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

    cat = catalogue.with_classes({"TestForced": Forced})
    ui = workflow([node(1, "TestForced", [inp("b", "FLOAT")], [out("INT", "INT")], [3, "y"])], [])
    assert convert(ui, cat)["1"]["inputs"] == {"a": 3, "c": "y"}


def test_linked_widget_input_uses_the_link(catalogue):
    ui = workflow(
        [
            node(1, "PrimitiveInt", [], [out("INT", "INT", [1])], [99, "fixed"]),
            node(2, "EmptyLatentImage", [inp("width", "INT", 1, widget="width")], [out("LATENT", "LATENT")], [512, 512, 1]),
            node(3, "PreviewAny", [inp("source", "*", 2)], []),
            node(4, "RandomNoise", [], [out("NOISE", "NOISE", [2])], [123, "increment"]),
        ],
        [[1, 1, 0, 2, 0, "INT"], [2, 4, 0, 3, 0, "*"]],
    )
    prompt = convert(ui, catalogue)
    assert prompt["2"]["inputs"] == {"width": ["1", 0], "height": 512, "batch_size": 1}
    assert prompt["1"]["inputs"] == {"value": 99}
    assert prompt["3"]["inputs"] == {"source": ["4", 0], "preview": "", "previewMode": False}
    assert prompt["4"]["inputs"] == {"noise_seed": 123}  # seeds are not re-rolled


def test_primitive_node_value_is_copied_into_every_target(catalogue):
    ui = workflow(
        [
            node(1, "PrimitiveNode", [], [{"name": "INT", "type": "INT", "links": [1, 2], "widget": {"name": "width"}}], [640, "fixed"]),
            node(2, "EmptyLatentImage", [inp("width", "INT", 1, widget="width")], [out("LATENT", "LATENT")], [512, 512, 1]),
            node(3, "EmptySD3LatentImage", [inp("width", "INT", 2, widget="width")], [out("LATENT", "LATENT")], [1024, 1024, 2]),
        ],
        [[1, 1, 0, 2, 0, "INT"], [2, 1, 0, 3, 0, "INT"]],
    )
    prompt = convert(ui, catalogue)
    assert sorted(prompt) == ["2", "3"]
    assert prompt["2"]["inputs"] == {"width": 640, "height": 512, "batch_size": 1}
    assert prompt["3"]["inputs"] == {"width": 640, "height": 1024, "batch_size": 2}


def test_reroute_chains_are_followed_and_a_dangling_reroute_drops_the_input(catalogue):
    ui = workflow(
        [
            node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")], ["a.png", "image"]),
            node(2, "Reroute", [inp("", "*", 1)], [out("", "IMAGE", [2])]),
            node(3, "Reroute", [inp("", "*", 2)], [out("", "IMAGE", [3])]),
            node(4, "ImageInvert", [inp("image", "IMAGE", 3)], [out("IMAGE", "IMAGE", [5])]),
            node(5, "Reroute", [inp("", "*", None)], [out("", "IMAGE", [4])]),
            node(6, "ImageBlend", [inp("image1", "IMAGE", 5), inp("image2", "IMAGE", 4)], [out("IMAGE", "IMAGE")], [0.5, "normal"]),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"], [4, 5, 0, 6, 1, "IMAGE"], [5, 4, 0, 6, 0, "IMAGE"]],
    )
    prompt = convert(ui, catalogue)
    assert sorted(prompt) == ["1", "4", "6"]
    assert prompt["1"]["inputs"] == {"image": "a.png"}  # the upload button's value is not an input
    assert prompt["4"]["inputs"] == {"image": ["1", 0]}
    assert prompt["6"]["inputs"] == {"image1": ["4", 0], "blend_factor": 0.5, "blend_mode": "normal"}


def _chain(mode_middle, middle="ImageInvert", middle_inputs=None, middle_outputs=None):
    return workflow(
        [
            node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1]), out("MASK", "MASK", [2])], ["a.png", "image"]),
            node(2, middle, middle_inputs or [inp("image", "IMAGE", 1)], middle_outputs or [out("IMAGE", "IMAGE", [3])], mode=mode_middle),
            node(3, "PreviewImage", [inp("images", "IMAGE", 3)], []),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 1, 2, 1, "MASK"], [3, 2, 0, 3, 0, "IMAGE"]],
    )


def test_muted_node_is_dropped_with_the_inputs_linked_to_it(catalogue):
    prompt = convert(_chain(2), catalogue)
    assert sorted(prompt) == ["1", "3"]
    assert prompt["3"]["inputs"] == {}  # its only input is gone: the server would reject the prompt
    prompt = convert(_chain(0), catalogue)
    assert prompt["3"]["inputs"] == {"images": ["2", 0]}


def test_bypassed_node_passes_a_matching_input_through(catalogue):
    prompt = convert(_chain(4), catalogue)
    assert sorted(prompt) == ["1", "3"] and prompt["3"]["inputs"] == {"images": ["1", 0]}
    # No input of the consumer's type: the consumer's input is dropped.
    only_mask = _chain(4, "MaskToImage", [inp("mask", "MASK", 2)])
    only_mask["links"] = [[2, 1, 1, 2, 0, "MASK"], [3, 2, 0, 3, 0, "IMAGE"]]
    assert convert(only_mask, catalogue)["3"]["inputs"] == {}
    # The same slot when its type fits, else the first input of the consumer's type.
    swapped = _chain(4, "ImageCompositeMasked", [inp("destination", "IMAGE", 1), inp("source", "IMAGE", None), inp("mask", "MASK", 2)])
    assert convert(swapped, catalogue)["3"]["inputs"] == {"images": ["1", 0]}
    second = _chain(4, "JoinImageWithAlpha", [inp("mask_first", "MASK", 2), inp("image", "IMAGE", 1)], [out("IMAGE", "IMAGE", [3])])
    second["nodes"][1]["inputs"] = [inp("alpha", "MASK", 2), inp("image", "IMAGE", 1)]
    second["links"] = [[1, 1, 0, 2, 1, "IMAGE"], [2, 1, 1, 2, 0, "MASK"], [3, 2, 0, 3, 0, "IMAGE"]]
    assert convert(second, catalogue)["3"]["inputs"] == {"images": ["1", 0]}


def test_valid_connection_rules():
    assert is_valid_connection("*", "IMAGE") and is_valid_connection("IMAGE", "")
    assert is_valid_connection("IMAGE,MASK", "mask") and not is_valid_connection("IMAGE", "MASK")


def _kontext_like_subgraph():
    """An instance of a subgraph with a promoted seed widget and an image input, nested one level."""
    inner = subgraph(
        "inner-0000", "Invert twice",
        nodes=[
            node(1, "ImageInvert", [inp("image", "IMAGE", 11)], [out("IMAGE", "IMAGE", [12])]),
            node(2, "ImageInvert", [inp("image", "IMAGE", 12)], [out("IMAGE", "IMAGE", [13])]),
        ],
        links=[[11, -10, 0, 1, 0, "IMAGE"], [12, 1, 0, 2, 0, "IMAGE"], [13, 2, 0, -20, 0, "IMAGE"]],
        inputs=[("image", "IMAGE", [11])], outputs=[("IMAGE", "IMAGE", [13])],
    )
    outer = subgraph(
        "outer-0000", "Edit",
        nodes=[
            node(5, "inner-0000", [inp("image", "IMAGE", 21)], [out("IMAGE", "IMAGE", [22])]),
            node(6, "ImageAddNoise", [inp("image", "IMAGE", 22), inp("seed", "INT", 23, widget="seed")], [out("IMAGE", "IMAGE", [24])], [1, "randomize", 0.5]),
        ],
        links=[[21, -10, 0, 5, 0, "IMAGE"], [22, 5, 0, 6, 0, "IMAGE"], [23, -10, 1, 6, 1, "INT"], [24, 6, 0, -20, 0, "IMAGE"]],
        inputs=[("image", "IMAGE", [21]), ("seed", "INT", [23])], outputs=[("IMAGE", "IMAGE", [24])],
    )
    return outer, inner


def test_subgraphs_are_expanded_with_promoted_widgets_and_nested_ids(catalogue):
    outer, inner = _kontext_like_subgraph()
    nodes = [
        node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")], ["a.png", "image"]),
        node(9, "outer-0000", [inp("image", "IMAGE", 1)], [out("IMAGE", "IMAGE", [2])], ["ignored text", 777], properties={"proxyWidgets": [["6", "strength"], ["-1", "seed"]]}),
        node(3, "PreviewImage", [inp("images", "IMAGE", 2)], []),
    ]
    ui = workflow(nodes, [[1, 1, 0, 9, 0, "IMAGE"], [2, 9, 0, 3, 0, "IMAGE"]], subgraphs=[outer, inner])
    prompt = convert(ui, catalogue)
    assert sorted(prompt) == ["1", "3", "9:5:1", "9:5:2", "9:6"]
    assert prompt["9:5:1"]["inputs"] == {"image": ["1", 0]}
    assert prompt["9:5:2"]["inputs"] == {"image": ["9:5:1", 0]}
    assert prompt["9:6"]["inputs"] == {"image": ["9:5:2", 0], "seed": 777, "strength": 0.5}
    assert prompt["3"]["inputs"] == {"images": ["9:6", 0]}
    # Without proxyWidgets the instance's values follow its promoted inputs in order.
    nodes[1]["widgets_values"] = [555]
    del nodes[1]["properties"]["proxyWidgets"]
    assert convert(ui, catalogue)["9:6"]["inputs"]["seed"] == 555
    # A bypassed instance passes its input through.
    nodes[1]["mode"] = 4
    prompt = convert(ui, catalogue)
    assert prompt["3"]["inputs"] == {"images": ["1", 0]}


def test_subgraph_that_contains_itself_is_rejected(catalogue):
    loop = subgraph("loop-0000", "Loop", nodes=[node(1, "loop-0000", [], [])], links=[], inputs=[], outputs=[])
    ui = workflow([node(1, "loop-0000", [], [])], [], subgraphs=[loop])
    with pytest.raises(ConversionError, match=r"^loop.json: subgraph 'Loop' contains itself \(instance 1:1\)$"):
        convert(ui, catalogue, source="loop.json")


def test_conversion_errors_name_the_file_and_node(catalogue):
    ui = _text_to_image()
    ui["nodes"].append(node(10, "NoSuchNode", [], []))
    with pytest.raises(ConversionError, match=r"^w.json: node 10 has unknown type 'NoSuchNode' \(not in the node catalogue\)$"):
        convert(ui, catalogue, source="w.json")
    broken = _text_to_image()
    broken["links"] = [l for l in broken["links"] if l[0] != 9]
    with pytest.raises(ConversionError, match=r"^w.json: node 7 \(SaveImage\) input 'images' refers to link 9, which does not exist$"):
        convert(broken, catalogue, source="w.json")
    with pytest.raises(ConversionError, match=r"^w.json: this is already an API-format prompt"):
        convert(EXPECTED_TEXT_TO_IMAGE, catalogue, source="w.json")
    with pytest.raises(ConversionError, match=r"^w.json: not a UI workflow: no 'nodes' list$"):
        convert({"foo": 1}, catalogue, source="w.json")


def test_list_widget_values_are_boxed(catalogue):
    class Listy:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"points": ("STRING", {"default": ""})}}

        RETURN_TYPES = ()
        FUNCTION = "run"

    ui = workflow([node(1, "TestListy", [], [], [[1, 2, 3]])], [])
    assert convert(ui, catalogue.with_classes({"TestListy": Listy}))["1"]["inputs"] == {"points": {"__value__": [1, 2, 3]}}


def test_spec_round_trips_through_object_info_layout(catalogue):
    spec = catalogue.get("KSampler")
    again = NodeSpec.from_object_info("KSampler", spec.to_object_info())
    assert again.inputs == spec.inputs and again.outputs == spec.outputs


# --------------------------------------------------------------------------------------------
# Files and JSON that are not workflows: one error naming the file, node or link
# --------------------------------------------------------------------------------------------


def _finishes_within(seconds: float, call, unblock=None):
    """``call()``'s result or exception, failing the test (not hanging it) if it blocks."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            unblock()
        pytest.fail(f"still blocked after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_as_workflow_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "workflow.json"
    os.mkfifo(fifo)

    def release_a_blocked_reader():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    with pytest.raises(ConversionError, match=rf"^{re.escape(str(fifo))}: is a named pipe \(FIFO\), not a workflow file$"):
        _finishes_within(5, lambda: load_json(fifo), unblock=release_a_blocked_reader)


def test_paths_that_are_no_workflow_file_are_refused_by_name(tmp_path, monkeypatch):
    cases = [(tmp_path, "is a folder, not a workflow file")]
    if Path("/dev/zero").exists():
        cases.append((Path("/dev/zero"), "is a character device, not a workflow file"))
    if Path("/proc/self/mem").exists():  # a regular file to stat, an I/O error to read
        cases.append((Path("/proc/self/mem"), "cannot read it: Input/output error"))
    if hasattr(socket, "AF_UNIX"):
        bound = socket.socket(socket.AF_UNIX)
        bound.bind(str(tmp_path / "s.json"))
        cases.append((tmp_path / "s.json", "is a socket, not a workflow file"))
    binary = tmp_path / "image.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    cases.append((binary, "not a text file: byte 0 is not UTF-8 (invalid start byte); a workflow is JSON"))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    cases.append((deep, "not a workflow: its JSON is nested too deep to read"))
    try:
        for path, message in cases:
            with pytest.raises(ConversionError, match=rf"^{re.escape(str(path))}: {re.escape(message)}$"):
                _finishes_within(5, lambda: load_json(path))
    finally:
        if hasattr(socket, "AF_UNIX"):
            bound.close()
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"nodes": [], "padding": "x" * 100}))
    monkeypatch.setattr(convert_module, "MAX_WORKFLOW_BYTES", 64)
    size = big.stat().st_size
    with pytest.raises(ConversionError, match=rf"^{re.escape(str(big))}: {size} bytes is more than a workflow file may have \(64 bytes\)$"):
        load_json(big)
    assert read_workflow_text(big, limit=1000).startswith('{"nodes"')


def test_malformed_nodes_and_links_name_themselves(catalogue):
    cases = [
        ({"nodes": [1]}, r"nodes\[0\] must be an object, got int 1"),
        ({"nodes": [], "links": {"1": []}}, r"'links' must be a list of links, got dict"),
        (
            {"nodes": [node(1, "PreviewAny", [inp("source", "*", 1)], [])], "links": [{"id": 1, "origin_slot": 0, "target_id": 1, "target_slot": 0}]},
            r"link 1 has no 'origin_id' \(a link object needs id, origin_id, origin_slot, target_id, target_slot\)",
        ),
        ({"nodes": [], "links": [["x", 1, 0, 2, 0, "IMAGE"]]}, r"the id of link \['x', 1, 0, 2, 0, 'IMAGE'\] must be an integer, got 'x'"),
        ({"nodes": [], "links": [[3, 1, "first", 2, 0, "IMAGE"]]}, r"link 3: origin_slot must be an integer, got 'first'"),
        ({"nodes": [node(4, "PreviewAny", [inp("source", "*", "seven")], [])], "links": []}, r"node 4: input 'source': link must be an integer, got 'seven'"),
        ({"nodes": [node(4, "PreviewAny", [], [], mode="muted")], "links": []}, r"node 4: mode must be an integer, got 'muted'"),
        ({"nodes": [{**node(4, "PreviewAny", [], []), "inputs": [7]}], "links": []}, r"node 4: inputs\[0\] must be an object, got int 7"),
        ({"nodes": [], "definitions": {"subgraphs": [{"name": "x", "nodes": []}]}}, r"subgraph 'x': a subgraph definition needs an 'id', got keys \['name', 'nodes'\]"),
    ]
    for ui, message in cases:
        with pytest.raises(ConversionError, match=rf"^w.json: {message}$"):
            convert(ui, catalogue, source="w.json")


def test_subgraphs_nested_too_deep_are_refused_not_a_recursion_error(catalogue):
    depth = 1000
    definitions = [
        subgraph(f"level-{i}", f"level {i}", nodes=[node(1, f"level-{i + 1}" if i + 1 < depth else "PreviewAny", [], [])], links=[], inputs=[], outputs=[])
        for i in range(depth)
    ]
    ui = workflow([node(7, "level-0", [], [])], [], subgraphs=definitions)
    with pytest.raises(ConversionError, match=rf"^deep.json: node 7: subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep \(subgraph 'level {MAX_SUBGRAPH_DEPTH}' at depth {MAX_SUBGRAPH_DEPTH + 1}\); flatten some of them$"):
        convert(ui, catalogue, source="deep.json")
    # as deep as allowed converts: the innermost node gets the ids of every instance around it
    allowed = workflow([node(7, f"level-{depth - MAX_SUBGRAPH_DEPTH}", [], [])], [], subgraphs=definitions)
    assert list(convert(allowed, catalogue)) == [":".join(["7"] + ["1"] * MAX_SUBGRAPH_DEPTH)]


def test_a_chain_of_reroutes_longer_than_python_can_follow_is_an_error(catalogue):
    length = 3000
    nodes = [node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")], ["a.png", "image"])]
    nodes += [node(i, "Reroute", [inp("", "*", i - 1)], [out("", "*", [i])]) for i in range(2, length + 2)]
    nodes.append(node(length + 2, "PreviewImage", [inp("images", "IMAGE", length + 1)], []))
    links = [[i, i, 0, i + 1, 0, "IMAGE"] for i in range(1, length + 2)]
    with pytest.raises(ConversionError, match=r"^r.json: links pass through too many reroute, bypassed or subgraph nodes in a row to follow$"):
        convert(workflow(nodes, links), catalogue, source="r.json")


def test_subgraphs_that_expand_exponentially_are_capped_not_a_hang(catalogue):
    # Each level's subgraph holds two instances of the level below: 2**26 nodes from a few kB.
    levels = 26
    definitions = [subgraph(f"level-{i}", f"level {i}", nodes=[node(1, f"level-{i + 1}", [], []), node(2, f"level-{i + 1}", [], [])], links=[], inputs=[], outputs=[])
                   for i in range(levels)]
    definitions.append(subgraph(f"level-{levels}", f"level {levels}", nodes=[node(1, "PreviewAny", [], [])], links=[], inputs=[], outputs=[]))
    ui = workflow([node(7, "level-0", [], [])], [], subgraphs=definitions)
    with pytest.raises(ConversionError, match=rf"^big.json: the workflow expands to more than {MAX_EXPANDED_NODES} nodes \(subgraph instances inside subgraphs multiply their nodes; here at 7:1:"):
        _finishes_within(10, lambda: convert(ui, catalogue, source="big.json"))


def test_node_ids_types_and_widgets_values_of_the_wrong_type_are_refused(catalogue):
    def one(**fields):
        return {"nodes": [{**node(4, "PreviewAny", [], []), **fields}], "links": []}

    cases = [
        (one(id=[4]), r"a node id must be an integer or a non-empty string, got list \[4\]"),
        (one(id=None), r"a node id must be an integer or a non-empty string, got NoneType None"),
        (one(id=True), r"a node id must be an integer or a non-empty string, got bool True"),
        (one(id=4.5), r"a node id must be an integer or a non-empty string, got float 4.5"),
        (one(type=7), r"node 4: 'type' must be a node type name \(a string\), got int 7"),
        (one(widgets_values="a, b"), r"node 4: 'widgets_values' must be a list \(or an object of name -> value\), got str 'a, b'"),
        (one(widgets_values=0.5), r"node 4: 'widgets_values' must be a list \(or an object of name -> value\), got float 0.5"),
        ({"nodes": [node(4, "PreviewAny", [], []), node(4, "PreviewAny", [], [])], "links": []}, r"two nodes have the id 4 \(a node id must be unique\)"),
        ({"nodes": [], "links": [], "definitions": []}, r"'definitions' must be an object, got list"),
        ({"1": {"class_type": "PreviewAny", "inputs": {}}, "2": {"inputs": {}}}, r"an API-format prompt whose node '2' has no 'class_type'"),
        ({"1": {"class_type": "PreviewAny", "inputs": {}}, "2": 5}, r"an API-format prompt whose node '2' is a int, not an object with 'class_type' and 'inputs'"),
    ]
    for ui, message in cases:
        with pytest.raises(ConversionError, match=rf"^w.json: {message}$"):
            convert(ui, catalogue, source="w.json")
    assert convert(one(id=4.0), catalogue) == convert(one(), catalogue)  # 4.0 is JavaScript's 4


def test_values_nested_deeper_than_python_can_follow_are_refused_before_conversion(catalogue):
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    ui = {"nodes": [node(4, "PreviewAny", [], [], widgets_values=deep)], "links": []}
    with pytest.raises(ConversionError, match=rf"^w.json: not a workflow: its JSON is nested more than {MAX_JSON_DEPTH} deep$"):
        convert(ui, catalogue, source="w.json")


def test_empty_paths_and_nul_bytes_are_no_workflow_files():
    with pytest.raises(ConversionError, match=r"^workflow: an empty path, not a workflow file$"):
        load_json("")
    with pytest.raises(ConversionError, match=r"^'w\.json\\x00': a path with a NUL byte, not a workflow file$"):
        load_json("w.json\0")

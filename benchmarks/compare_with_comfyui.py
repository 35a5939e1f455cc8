"""Compare the headless runner with a real ComfyUI server that has this pack in custom_nodes/.

Not a benchmark of speed: a fidelity check, run by hand. Start ComfyUI 0.8.0 (see
comfy_editloss/graph/data/VERSION.txt) with this checkout linked into its custom_nodes/ and the
three test images this script writes into its input folder, e.g.::

    ln -s "$PWD" /path/to/ComfyUI/custom_nodes/comfy-editloss
    python main.py --cpu --listen 127.0.0.1 --port 8195 --disable-auto-launch --disable-api-nodes
    python3 benchmarks/compare_with_comfyui.py --url http://127.0.0.1:8195 --comfyui /path/to/ComfyUI

It checks, and prints:

1. ``GET /object_info``: the server's entries for our nodes equal the specs the runner reads from
   our classes, and its core entries equal the bundled catalogue (LoadImage's file lists aside);
2. one prompt run by the server (images -> ``pixel_space`` VAE -> our embedding and loss nodes ->
   Preview as Text; ImageScale lanczos/bicubic + SaveImage; masks from alpha and a channel) and by
   the runner (the VAE encodings injected from the server's SaveLatent files): the texts, saved
   images and masks must be identical.

3. with ``--workflow FILE --images DIR``: a UI workflow converted by our converter, run by the server
   (DIR's images and depth files copied to its input folder) and by the runner: texts and images must be identical.

Run it as often as you like against the same server: ComfyUI caches the outputs of the previous
prompt, and a node it does not run again reaches the history (``/history``, where the results are
read) only for a prompt sent with a ``client_id`` (execution.py, ``execute``: ``if server.client_id
is not None``), so every prompt is sent with one, as ComfyUI's frontend does. A node the history still
lacks is reported as a difference by its id.

Needs the ``safetensors`` package to read the server's latent files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comfy_editloss.graph.catalogue import NodeSpec, core_object_info  # noqa: E402
from comfy_editloss.graph.host import HostFolders, using_folders  # noqa: E402
from comfy_editloss.graph.runtime import Environment  # noqa: E402


def node(cls, **inputs):
    return {"class_type": cls, "inputs": inputs}


PROMPT = {
    "1": node("LoadImage", image="cmp_before.png"), "2": node("LoadImage", image="cmp_after.png"), "3": node("LoadImage", image="cmp_gen.png"),
    "4": node("VAELoader", vae_name="pixel_space"),
    "5": node("VAEEncode", pixels=["1", 0], vae=["4", 0]), "6": node("VAEEncode", pixels=["2", 0], vae=["4", 0]), "7": node("VAEEncode", pixels=["3", 0], vae=["4", 0]),
    "8": node("SaveLatent", samples=["5", 0], filename_prefix="cmp/before"), "9": node("SaveLatent", samples=["6", 0], filename_prefix="cmp/after"),
    "10": node("SaveLatent", samples=["7", 0], filename_prefix="cmp/gen"),
    "11": node("EditLossLatentToEmbedding", latent=["5", 0]), "12": node("EditLossLatentToEmbedding", latent=["6", 0]), "13": node("EditLossLatentToEmbedding", latent=["7", 0]),
    "14": node("EditLossNoEditIdentity", z_pred=["13", 0], z_gt=["12", 0], z_src=["11", 0], margin=0.2, dist="cos", agg="mean"),
    "15": node("EditLossGeometryMatch", z_pred=["13", 0], z_gt=["12", 0], kind="l2", agg="max"),
    "16": node("EditLossInfoNCE", anchor=["13", 0], positive=["12", 0], temperature=0.1, normalize=True, symmetric=True, agg="mean", negative_1=["11", 0]),
    "17": node("PreviewAny", source=["14", 0]), "18": node("PreviewAny", source=["14", 1]), "19": node("PreviewAny", source=["15", 0]),
    "20": node("PreviewAny", source=["16", 1]), "31": node("PreviewAny", source=["16", 0]),
    "21": node("ImageScale", image=["3", 0], upscale_method="lanczos", width=33, height=0, crop="disabled"),
    "22": node("ImageScale", image=["3", 0], upscale_method="bicubic", width=20, height=30, crop="center"),
    "23": node("SaveImage", images=["21", 0], filename_prefix="cmp/lanczos"), "24": node("SaveImage", images=["22", 0], filename_prefix="cmp/bicubic"),
    "25": node("LoadImage", image="cmp_alpha.png"), "26": node("MaskToImage", mask=["25", 1]), "27": node("SaveImage", images=["26", 0], filename_prefix="cmp/alpha_mask"),
    "28": node("LoadImageMask", image="cmp_alpha.png", channel="green"), "29": node("MaskToImage", mask=["28", 0]),
    "30": node("SaveImage", images=["29", 0], filename_prefix="cmp/green_mask"),
}
TEXTS = ("17", "18", "19", "20", "31")
# Without a client id, ComfyUI leaves the nodes it takes from its cache out of the history.
CLIENT_ID = f"editloss-compare-{uuid.uuid4().hex}"


def write_images(folder: Path) -> None:
    rng = np.random.default_rng(3)
    base = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    after, gen = base.copy(), base.copy()
    after[10:30, 20:40] = [200, 40, 40]
    gen[12:30, 22:40] = [190, 50, 45]
    alpha = np.linspace(0, 255, 56, dtype=np.uint8)[None].repeat(40, 0)
    for name, array, mode in (("cmp_before.png", base, "RGB"), ("cmp_after.png", after, "RGB"), ("cmp_gen.png", gen, "RGB"),
                              ("cmp_alpha.png", np.dstack([base, alpha]), "RGBA")):
        Image.fromarray(array, mode).save(folder / name)


def get(url: str):
    return json.loads(urllib.request.urlopen(url, timeout=60).read())


def post(url: str, body: dict):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())


def run_on_server(url: str, prompt: dict, seconds: int) -> dict:
    """Queue ``prompt`` on the server and wait for it: the ``outputs`` of its history entry (node id ->
    ui results), cached nodes included."""
    prompt_id = post(f"{url}/prompt", {"prompt": prompt, "client_id": CLIENT_ID})["prompt_id"]
    for _ in range(seconds):
        history = get(f"{url}/history/{prompt_id}")
        if prompt_id in history:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"ComfyUI at {url} did not finish prompt {prompt_id} in {seconds} s")
    entry = history[prompt_id]
    status = entry.get("status") or {}
    if status.get("status_str") == "error":
        errors = [m[1] for m in status.get("messages", []) if isinstance(m, list) and m and m[0] == "execution_error"]
        raise RuntimeError(f"ComfyUI failed prompt {prompt_id}: {errors or status}")
    return entry.get("outputs") or {}


def server_ui(outputs: dict, node_id: str, kind: str) -> list | None:
    """One node's ui results of one kind ("text", "images") from the history, or None (printed) when
    the history has none for it."""
    found = (outputs.get(node_id) or {}).get(kind)
    if found is None:
        print(f"node {node_id}: no {kind!r} in ComfyUI's history (it has {sorted(outputs)}): DIFFERENT")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8195")
    parser.add_argument("--comfyui", required=True, help="the ComfyUI folder the server runs from (for input/ and output/)")
    parser.add_argument("--work", default="compare_out", help="a scratch folder for the runner's outputs")
    parser.add_argument("--workflow", help="also run this UI workflow in both and compare")
    parser.add_argument("--images", help="the folder of the images --workflow loads")
    parser.add_argument("--server-temp", help="the server's temp folder (<--temp-directory>/temp, or <comfyui>/temp)")
    args = parser.parse_args()
    comfyui, work = Path(args.comfyui), Path(args.work).resolve()
    args.server_temp = args.server_temp or str(comfyui / "temp")
    work.mkdir(parents=True, exist_ok=True)
    write_images(comfyui / "input")
    write_images(work)
    failures = 0

    live = get(f"{args.url}/object_info")
    env = Environment.create()
    ours = sorted(name for pack in env.packs for name in pack.classes)
    for name in ours:
        # file lists of the input folder (EditLoss Load Depth) as the server sees them
        with using_folders(HostFolders(comfyui / "input", comfyui / "output", Path(args.server_temp))):
            spec = NodeSpec.from_class(name, env.classes[name], env.packs[0].display_names.get(name)).to_object_info()
        differing = [key for key in spec if key != "python_module" and spec[key] != live.get(name, {}).get(key)]
        failures += bool(differing)
        print(f"object_info {name}: {'equal' if not differing else 'DIFFERENT in ' + ', '.join(differing)}")
    core = core_object_info()
    core_differing = sorted(k for k in set(core) | {k for k in live if k not in ours} if core.get(k) != live.get(k))
    print(f"object_info core entries differing from the bundled catalogue: {core_differing} (file lists of the input folder expected)")

    server = run_on_server(args.url, PROMPT, 120)
    from safetensors.torch import load_file  # noqa: PLC0415

    saved = comfyui / "output" / "cmp"
    latents = {key: load_file(str(sorted(saved.glob(f"{name}_*_.latent"))[-1]))["latent_tensor"] for key, name in (("5", "before"), ("6", "after"), ("7", "gen"))}
    prompt = {k: v for k, v in PROMPT.items() if v["class_type"] not in ("SaveLatent", "MaskToImage") and k not in ("27", "30")}
    with using_folders(HostFolders(work, work / "output", work / "output" / "temp")):
        result = env.runner().run(prompt, targets=[*TEXTS, "23", "24", "25", "28"], inject={(k, 0): {"samples": v} for k, v in latents.items()})
    for key in TEXTS:
        texts = server_ui(server, key, "text")
        same = texts == list(result.ui[key]["text"])
        failures += not same
        print(f"Preview as Text {key}: ComfyUI {texts} runner {list(result.ui[key]['text'])} {'equal' if same else 'DIFFERENT'}")
    for key, name in (("23", "lanczos"), ("24", "bicubic")):
        images = server_ui(server, key, "images")
        if not images:
            failures += 1
            continue
        theirs = np.array(Image.open(saved / images[0]["filename"])).astype(int)
        mine = np.array(Image.open(work / "output" / "cmp" / result.ui[key]["images"][0]["filename"])).astype(int)
        diff = int(np.abs(theirs - mine).max()) if theirs.shape == mine.shape else -1
        failures += diff != 0
        print(f"SaveImage {name}: shapes {theirs.shape} / {mine.shape}, max difference {diff} (of 255)")
    for key, name, slot in (("25", "alpha_mask", 1), ("28", "green_mask", 0)):
        theirs = np.array(Image.open(sorted(saved.glob(f"{name}_*_.png"))[-1]))[..., 0].astype(int)
        mine = np.clip(255 * result.output(key, slot)[0].numpy(), 0, 255).astype(np.uint8).astype(int)
        diff = int(np.abs(theirs - mine).max()) if theirs.shape == mine.shape else -1
        failures += diff != 0
        print(f"mask {name}: max difference {diff} (of 255)")
    if args.workflow:
        failures += compare_workflow(args, env, comfyui, work)
    print("all equal" if not failures else f"{failures} difference(s)")
    return 1 if failures else 0


def _unnumbered(texts: list) -> list:
    import re  # noqa: PLC0415

    return [re.sub(r"_\d{5}_\.", "_NNNNN_.", str(t)) for t in texts]


def compare_workflow(args, env: Environment, comfyui: Path, work: Path) -> int:
    import shutil  # noqa: PLC0415

    from comfy_editloss.graph.convert import convert  # noqa: PLC0415
    from comfy_editloss.graph.runtime import run_workflow  # noqa: PLC0415

    images = Path(args.images)
    for image in images.iterdir():
        if image.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".npy", ".npz", ".pfm", ".exr"):  # images and depth files
            shutil.copy(image, comfyui / "input" / image.name)
        elif image.is_dir():  # an edit set's generations/
            shutil.copytree(image, comfyui / "input" / image.name, dirs_exist_ok=True)
    workflow = json.loads(Path(args.workflow).read_text())
    server = run_on_server(args.url, convert(workflow, env.catalogue), 300)
    ours = run_workflow(workflow, input_dir=images, output_dir=work / "workflow")
    failures = 0
    for key in sorted(set(ours.ui) - set(server)):  # what the runner showed and the server's history lacks
        failures += 1
        print(f"{args.workflow} node {key}: no results in ComfyUI's history: DIFFERENT")
    for key, ui in sorted(server.items()):
        if "text" in ui:
            # the report names the numbered files it wrote: their numbers depend on what each output folder held
            same = _unnumbered(ui["text"]) == _unnumbered(list(ours.ui[key]["text"]))
            failures += not same
            print(f"{args.workflow} node {key} text: {'equal' if same else 'DIFFERENT: ' + str(ui['text']) + ' / ' + str(ours.ui[key]['text'])}")
        for theirs_entry, mine_entry in zip(ui.get("images", []), ours.ui.get(key, {}).get("images", [])):
            base = comfyui / "output" if theirs_entry["type"] == "output" else Path(args.server_temp)
            theirs_pixels = np.array(Image.open(base / theirs_entry["subfolder"] / theirs_entry["filename"])).astype(int)
            mine_base = work / "workflow" / ("temp" if mine_entry["type"] == "temp" else "")
            mine_pixels = np.array(Image.open(mine_base / mine_entry["subfolder"] / mine_entry["filename"])).astype(int)
            diff = int(np.abs(theirs_pixels - mine_pixels).max()) if theirs_pixels.shape == mine_pixels.shape else -1
            failures += diff != 0
            print(f"{args.workflow} node {key} image: max difference {diff} (of 255)")
    return failures


if __name__ == "__main__":
    sys.exit(main())

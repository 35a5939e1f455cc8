from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

# No test may reach a model hub: without this, a stray hub name in open_clip or timm retries for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# Timing-based deadlines are meaningless on shared, noisy CI machines.
settings.register_profile("ci", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_pack_like_comfyui(pack_dir: Path):
    """Import a pack folder exactly as ComfyUI's ``load_custom_node`` does (nodes.py): the module
    name is the folder's path with '.' replaced by '_x_', loaded from ``__init__.py`` by location,
    registered in ``sys.modules`` before it runs, with no change to ``sys.path``."""
    module_path = str(pack_dir)
    sys_module_name = module_path.replace(".", "_x_")
    if sys_module_name in sys.modules:
        return sys.modules[sys_module_name]
    spec = importlib.util.spec_from_file_location(sys_module_name, os.path.join(module_path, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[sys_module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pack():
    """The node pack of this checkout, loaded as ComfyUI loads it."""
    return load_pack_like_comfyui(REPO_ROOT)


@pytest.fixture(scope="session")
def pack_lib(pack):
    """The library as the pack sees it (a sub-package of the pack module)."""
    return importlib.import_module(pack.__name__ + ".comfy_editloss.types")


def random_depth_checkpoint(name: str = "depth_anything_v2_vits", seed: int = 0) -> dict:
    """A state dict with the official names of ``name`` and random weights whose output is alive
    (the final bias is positive, so the last ReLU does not zero everything)."""
    import torch  # noqa: PLC0415

    from comfy_editloss.depth import ARCHITECTURES, build_model  # noqa: PLC0415

    torch.manual_seed(seed)
    model = build_model(ARCHITECTURES[name])
    last = "depth_head.scratch.output_conv2.2.bias" if name.startswith("depth_anything") else "scratch.output_conv.4.bias"
    with torch.no_grad():
        dict(model.named_parameters())[last].fill_(0.5)
    return model.state_dict()


@pytest.fixture(scope="session")
def depth_models_dir(tmp_path_factory):
    """A models folder (ComfyUI's layout) with ``editloss_depth/depth_anything_v2_vits.pth``: Depth
    Anything V2 Small with random weights, saved as the official file is (a plain state dict)."""
    import torch  # noqa: PLC0415

    root = tmp_path_factory.mktemp("models")
    (root / "editloss_depth").mkdir()
    torch.save(random_depth_checkpoint(), root / "editloss_depth" / "depth_anything_v2_vits.pth")
    return root


def pytest_terminal_summary(terminalreporter):
    """The bad-input sweeps' counts per class (tests/robustness), when they ran: the library's and
    the command line's."""
    sweep = sys.modules.get("sweep")
    if sweep is None:
        return
    if getattr(sweep, "COUNTS", None) or getattr(sweep, "CLI_COUNTS", None):
        terminalreporter.write_sep("=", "bad-input sweep")
    if getattr(sweep, "COUNTS", None):
        terminalreporter.write_line(sweep.format_counts())
    if getattr(sweep, "CLI_COUNTS", None):
        total = sum(sweep.CLI_COUNTS.values())
        terminalreporter.write_line(sweep.format_counts(sweep.CLI_COUNTS, f"command-line sweep: {total} runs of python -m comfy_editloss"))

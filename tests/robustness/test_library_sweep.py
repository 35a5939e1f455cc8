"""Every public name of the library gets bad and edge inputs: each call must end in a clear error
naming the argument or in a correct result (see sweep.py for the classes)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import comfy_editloss
import entries_depth
import entries_edits
import entries_encoders
import entries_io
import entries_losses
import entries_testing
from sweep import FAILURES, sweep

# The library's public modules; every public name is one of their __all__.
PUBLIC_MODULES = (
    "comfy_editloss.losses",
    "comfy_editloss.encoders",
    "comfy_editloss.depth",
    "comfy_editloss.edits.masks",
    "comfy_editloss.edits.negatives",
    "comfy_editloss.edits.morphology",
    "comfy_editloss.io.images",
    "comfy_editloss.io.depth_files",
    "comfy_editloss.types",
    "comfy_editloss.report.table",
    "comfy_editloss.report.files",
    "comfy_editloss.testing",
)
# Every other module of the package, and why it is not swept: the implementation behind a public
# module (whose names that module re-exports), the runner (swept through the command line), or code
# with no public name. A module here that has an __all__ may export only names a public module has.
INTERNAL = {
    "comfy_editloss": "the package: its version and docstring",
    "comfy_editloss.__main__": "the command line, swept by test_cli_sweep.py",
    "comfy_editloss.demo": "the command line's demo, swept by test_cli_sweep.py",
    "comfy_editloss.graph.batch": "batch scoring, the command line's score, swept by test_cli_sweep.py",
    "comfy_editloss.testing.synthetic": "generated scenes and textures for the tests, benchmarks and samples",
    "comfy_editloss.masks": "a re-export of comfy_editloss.edits.masks",
    "comfy_editloss.negatives": "a re-export of comfy_editloss.edits.negatives",
    "comfy_editloss.edits": "a package docstring",
    "comfy_editloss.io": "a package docstring",
    "comfy_editloss.losses.": "the implementation of comfy_editloss.losses",
    "comfy_editloss.encoders.": "the implementation of comfy_editloss.encoders",
    "comfy_editloss.depth.": "the implementation of comfy_editloss.depth",
    "comfy_editloss.graph": "the headless runner, swept through comfy_editloss.testing and the command line",
    "comfy_editloss.report": "pictures of scores, texture spectra, depth maps and heat maps for the nodes",
}
ENTRY_MODULES = (entries_losses, entries_encoders, entries_depth, entries_edits, entries_io, entries_testing)
ENTRIES = {entry.name: entry for module in ENTRY_MODULES for entry in module.ENTRIES}


def public_names() -> list[str]:
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    return sorted(names)


def _resolve(name: str) -> object:
    module, attribute = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attribute)


def test_every_public_name_has_an_entry():
    # A name re-exported by two public modules (losses.dilate is edits.morphology.dilate) needs one entry.
    covered = {id(_resolve(name)) for name in ENTRIES}
    missing = [name for name in public_names() if name not in ENTRIES and id(_resolve(name)) not in covered]
    assert not missing, f"public names without a sweep entry: {missing}"
    stale = sorted(set(ENTRIES) - set(public_names()))
    assert not stale, f"sweep entries of names that are not public: {stale}"


def _internal_reason(module_name: str) -> str | None:
    for prefix, reason in INTERNAL.items():
        if module_name == prefix or module_name.startswith(prefix if prefix.endswith(".") else prefix + "."):
            return reason
    return None


def test_every_module_is_public_internal_or_private():
    # So that a new module cannot escape the sweep: it is public (and swept), or listed above.
    public_objects = {id(_resolve(name)) for name in public_names()}
    unlisted, leaking = [], []
    for info in pkgutil.walk_packages(comfy_editloss.__path__, "comfy_editloss."):
        name = info.name
        if name in PUBLIC_MODULES or any(part.startswith("_") and part != "__main__" for part in name.split(".")):
            continue
        if _internal_reason(name) is None:
            unlisted.append(name)
            continue
        module = importlib.import_module(name)
        leaking += [f"{name}.{n}" for n in getattr(module, "__all__", ()) if id(getattr(module, n)) not in public_objects]
    assert not unlisted, f"modules neither public (swept) nor listed as internal: {unlisted}"
    assert not leaking, f"internal modules exporting names no public module has (sweep them): {leaking}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_bad_and_edge_inputs(name):
    failures = [outcome for outcome in sweep(ENTRIES[name]) if outcome.kind in FAILURES]
    assert not failures, "\n".join(str(f) for f in failures)

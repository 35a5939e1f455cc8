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
from sweep import FAILURES, sweep

# The library's public modules; every public name is one of their __all__.
PUBLIC_MODULES = (
    "comfy_editloss.losses",
    "comfy_editloss.encoders",
    "comfy_editloss.depth",
    "comfy_editloss.masks",
    "comfy_editloss.negatives",
    "comfy_editloss.image_io",
    "comfy_editloss.depth_io",
    "comfy_editloss.types",
    "comfy_editloss.report.table",
    "comfy_editloss.report.files",
)
ENTRY_MODULES = (entries_losses, entries_encoders, entries_depth, entries_edits, entries_io)
ENTRIES = {entry.name: entry for module in ENTRY_MODULES for entry in module.ENTRIES}


def public_names() -> list[str]:
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    return sorted(names)


def test_every_public_name_has_an_entry():
    missing = [name for name in public_names() if name not in ENTRIES]
    assert not missing, f"public names without a sweep entry: {missing}"
    stale = sorted(set(ENTRIES) - set(public_names()))
    assert not stale, f"sweep entries of names that are not public: {stale}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_bad_and_edge_inputs(name):
    failures = [outcome for outcome in sweep(ENTRIES[name]) if outcome.kind in FAILURES]
    assert not failures, "\n".join(str(f) for f in failures)

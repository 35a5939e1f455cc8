"""The one place that talks to ComfyUI (``folder_paths``, ``comfy.*``), one module per concern:
:mod:`.folders` (model, input, output and temp folders), :mod:`.models` (devices and ComfyUI's model
management), :mod:`.progress` (progress bars, interrupts) and :mod:`.outputs` (numbered files,
previews). Every function also works without ComfyUI (tests, the headless runner), with plain
fallbacks."""

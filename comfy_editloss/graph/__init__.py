"""The headless graph runner: run ComfyUI workflow JSON outside ComfyUI, as ComfyUI would."""

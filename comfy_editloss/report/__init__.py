"""Pictures and tables of scores, rendered without a display (ComfyUI IMAGEs, JSON, CSV)."""

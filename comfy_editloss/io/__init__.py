"""Reading files: images as ComfyUI IMAGEs (:mod:`.images`) and depth maps with their values as
stored (:mod:`.depth_files`). Every path is checked to be a regular file before it is opened."""

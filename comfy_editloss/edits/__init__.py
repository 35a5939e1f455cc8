"""What an edit is made of, from before/after images: the edit mask (:mod:`.masks`), the overlay
negatives of seed 001 (:mod:`.negatives`) and the grey morphology they and the depth loss share
(:mod:`.morphology`)."""

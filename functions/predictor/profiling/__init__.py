"""A table's shape in counts: the bins each column is counted into, fixed by the training
data (:mod:`.bins`), the profiles that count rows into them and merge exactly
(:mod:`.profiles`), and a model version's baseline, its bins and the training data's
counts (:mod:`.baseline`). A loaded model carries its baseline; scoring counts into
profiles; the monitor compares them."""

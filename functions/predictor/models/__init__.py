"""Models as the functions serve them: the registry's read side (:mod:`.registry`), one
model's cache with its alias re-checks (:mod:`.cache`), and the set of models a function
serves, within a byte budget (:mod:`.model_set`)."""

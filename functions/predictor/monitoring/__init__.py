"""Monitoring: the profiles of what is scored, counted by :mod:`.capture` in a serving
container and stored by :mod:`.profile_store` (each request validated again off the hot
path by :mod:`.revalidation`), sampled exchanges (:mod:`.exchange`), drift
(:mod:`.drift`, :mod:`.statistics`), the monitor's run and reports (:mod:`.monitor`,
:mod:`.reports`, :mod:`.report_html`) and where all of it lives (:mod:`.layout`). The
bins, profiles and baselines themselves are :mod:`predictor.profiling`'s."""

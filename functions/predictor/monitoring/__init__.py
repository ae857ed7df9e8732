"""Monitoring: the profiles of what is scored, counted by :mod:`.capture` in a serving
container and stored by :mod:`.profile_store` (each request validated again off the hot
path by :mod:`.revalidation`), sampled exchanges (:mod:`.exchange`), drift
(:mod:`.drift`, :mod:`.statistics`), the monitor's run and reports (:mod:`.monitor`,
:mod:`.reports`, :mod:`.report_html`), the feedback loop (predictions kept by
:mod:`.kept`, labels read by :mod:`.labels` and joined by :mod:`.feedback` to them and to
batch outputs (:mod:`.batch_rows`) into :mod:`.joined_rows`, live quality measured by
:mod:`.quality` and :mod:`.live_quality`, drawn by :mod:`.quality_html`) and where all of
it lives (:mod:`.layout`, :mod:`.layouts` for the baselines' bins). The
bins, profiles and baselines themselves are :mod:`predictor.profiling`'s."""

"""Serverless Predictor's core, shared by every Lambda function and the training job.

The map (each folder one concern; nothing here touches the network or reads the
environment at import time):

- the core types, at the top: :mod:`.errors` (every error raised on purpose),
  :mod:`.settings` (one typed settings model for every function), :mod:`.schema` and
  :mod:`.values` (the feature schema and the one validator), :mod:`.rows` (a request's
  rows as columns, and the name of each row's inference id), :mod:`.inference` (the ONNX
  graph behind the ``Predictor`` interface), :mod:`.batch_keys` (where a batch run reads
  and writes: batch and the monitor's label join share it), :mod:`.runtime` (what a
  container makes once);
- :mod:`.models`: the registry's read side, a model's cache (alias re-checks, hot swaps)
  and the set of models a function serves;
- :mod:`.serving`: the one realtime pipeline (model, parse, score, render, capture) and
  the answer formats;
- :mod:`.protocols`: one codec per protocol (this API's own, MLflow's and SageMaker's,
  the Open Inference Protocol) and the request bodies they share;
- :mod:`.batch`: a CSV file scored in one run, or in byte ranges (:mod:`.batch.fan_out`);
- :mod:`.profiling`: bins, profiles and a version's baseline (what a model carries for
  monitoring, and what scoring counts);
- :mod:`.monitoring`: capture, drift, the feedback loop (kept predictions, labels
  joined to them, live quality) and the monitor's run;
- :mod:`.io`: the only modules that call S3, and CSV reading (:mod:`.io.csv`).
"""

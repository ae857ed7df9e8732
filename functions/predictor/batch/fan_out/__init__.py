"""Scoring one large CSV object in byte ranges, in parallel: plan, score, check, finalize.

The state machine of ``template.yaml`` runs these steps; each is one function call here
and S3 holds everything between them (under ``runs/<rel>/<run>/``, see
:mod:`predictor.batch_keys`), so the state it passes stays small.

Modules: :mod:`.plan` (the types every step shares; the range worker reads only these),
:mod:`.planning`, :mod:`.ranges` (the worker), :mod:`.checking`, :mod:`.finishing`.

- :func:`.planning.plan_run` pins the object's version, reads the header, dialect and BOM once,
  and cuts the rest into ranges that start at a line start. It writes the plan and a
  ``running`` report.
- :func:`predictor.batch.fan_out.ranges.score_range` (the worker) scores one range with the
  same reader and scorer as a whole file (:mod:`predictor.batch.run`): its predictions part
  (the output header in range 0's), its errors part (line numbers counted from the
  range's first line) and a result saying where its last record ended.
- :func:`.checking.check_run` proves the cuts. A cut is only a guess: a quoted field may hold line
  breaks, so a line start need not be a record start. But range 0 starts at the first
  record, and a range that starts at a record start reads the same records as the whole
  file would, past its end if its last record runs on; so where it stopped is a record
  start. When every range starts exactly where the one before it stopped, every range
  read the whole file's own records. A range that does not is scored again from where
  the one before stopped (a range swallowed whole by its neighbour is empty), until the
  chain holds. Then each range's first line number is the sum of the lines before it.
- :func:`.finishing.finalize_run` assembles the parts in range order into the two outputs (S3 copies
  them: UploadPartCopy), renumbers the error lines, writes the report and deletes the
  parts. Nothing appears under ``predictions/`` before this step.
- :func:`.finishing.abort_run` ends a run that cannot finish: a ``failed`` report naming the failed
  ranges, no outputs, no parts, no open multipart uploads.
"""

from __future__ import annotations

"""Batch scoring: one ``incoming/`` CSV object scored in one run (:mod:`.run`), chunk by
chunk (:mod:`.chunks`), into the outputs of :mod:`predictor.batch_keys`, with a report
(:mod:`.report`); a large one in byte ranges by the state machine (:mod:`.fan_out`)."""

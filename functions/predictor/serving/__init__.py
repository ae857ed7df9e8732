"""The realtime pipeline (:mod:`.pipeline`), the scoring it runs (:mod:`.scoring`), what
crosses its edges (:mod:`.messages`) and the answer formats ``Accept`` chooses
(:mod:`.formats`)."""

"""CSV reading for batch files: the dialect (:mod:`.dialect`), bounded lines
(:mod:`.lines`), records with line numbers (:mod:`.stream`) and why one is refused
(:mod:`.problems`), numeric columns parsed in C (:mod:`.numeric`), line counting and cuts
in raw bytes (:mod:`.byte_lines`)."""

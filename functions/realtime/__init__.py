"""The realtime function: its entry point (:mod:`.app`), its routes (:mod:`.routes`), the
OpenAPI document built from them (:mod:`.openapi`, :mod:`.operations`) and the try-it page
(:mod:`.try_page`, ``static/``)."""

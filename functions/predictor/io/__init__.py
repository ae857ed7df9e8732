"""The only modules that call S3 (:mod:`.s3_store`: objects, JSON, listings;
:mod:`.s3_versions`: one object version, its ranges and its lease; :mod:`.s3_multipart`:
outputs written in parts; :mod:`.step_functions`: starting a run in byte ranges) and CSV
reading (:mod:`.csv`)."""

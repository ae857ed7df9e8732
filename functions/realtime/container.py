"""The realtime function's container: settings, S3 client and models, kept per container.

Its S3 client reads with a signed GET of the standard library until boto3's client is
needed (:mod:`predictor.io.signed_get`), and the module imports neither powertools nor
botocore, so a cold start's first prediction pays for neither.
"""

from __future__ import annotations

from predictor.io.signed_get import ColdStartS3
from predictor.runtime import Container, boto3_s3_client


def _s3_client() -> ColdStartS3:
    return ColdStartS3(boto3_s3_client)


#: The baseline waits for the capture thread: a cold start loads the model alone.
container = Container(_s3_client, eager_baselines=False)

"""Where profiles are stored: one object per writer (a container, or a scored file) per
window, under ``monitoring/profiles/<model>/<version>/<window>/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from predictor.io import s3_store, s3_versions
from predictor.io.s3_store import ObjectRef
from predictor.monitoring.layout import WINDOW_SECONDS, profile_key
from predictor.profiling.profiles import Profile

logger = logging.getLogger(__name__)


def batch_writer(source: ObjectRef) -> str:
    """The profile writer of one input object version. A finished file is not scored
    again (its report says so); one scored again because its run stopped after storing
    the profile replaces that profile instead of counting the file twice.
    """
    identity = f"{source.bucket}/{source.key}@{source.version_id or source.etag.strip(chr(34))}"
    return "batch-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def store_profile(s3: Any, bucket: str, profile: Profile, writer: str, when: float) -> str:
    """Store one profile in the window of ``when``; returns its key."""
    start = datetime.fromtimestamp(int(when) // WINDOW_SECONDS * WINDOW_SECONDS, UTC)
    key = profile_key(profile.model, profile.version, start, writer)
    body = json.dumps(profile.to_dict()).encode()
    s3_store.put_bytes(s3, bucket, key, body, "application/json")
    return key


def store_file_profile(s3: Any, bucket: str, profile: Profile, source: ObjectRef) -> bool:
    """Store the profile of a scored file, in the window of the object version's upload
    (the same window whenever the file is scored, so a second run replaces the first's
    profile); False (logged) when it cannot be stored: the outputs stand regardless.
    """
    try:
        uploaded = s3_versions.last_modified(s3, source)
        store_profile(s3, bucket, profile, batch_writer(source), uploaded or time.time())
    except Exception:
        logger.warning("could not store the profile of %s", source.key, exc_info=True)
        return False
    return True

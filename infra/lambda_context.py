"""The one stand-in for Lambda's context object: what powertools and the handlers read.

Standard library only, so a clean interpreter that sees nothing but a built function
(``make invoke``) can use it too.
"""

from __future__ import annotations

import time
import uuid

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: One log stream per process, as Lambda has one per container.
_LOG_STREAM = f"local/[$LATEST]{uuid.uuid4().hex}"


class LambdaContext:
    """A Lambda context with a deadline ``seconds`` from now."""

    def __init__(
        self, function_name: str = "local", seconds: float = 900, memory_limit_in_mb: int = 1024
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_stream_name = _LOG_STREAM
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's deadline."""
        return int((self._deadline - time.monotonic()) * 1000)

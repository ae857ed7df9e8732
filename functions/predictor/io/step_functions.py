"""Step Functions, the one call the batch path makes to it: start an execution by name."""

from __future__ import annotations

import json
from typing import Any

from predictor.io.s3_store import error_code


def start_named_execution(
    states: Any, state_machine: str, name: str, document: dict[str, Any]
) -> tuple[str, bool]:
    """Start ``state_machine`` as execution ``name``: (its ARN, whether it already existed).

    Step Functions refuses a second execution of a name, running or finished: a repeated
    start finds the first one.
    """
    try:
        started = states.start_execution(
            stateMachineArn=state_machine, name=name, input=json.dumps(document)
        )
    except Exception as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
        return state_machine.replace(":stateMachine:", ":execution:") + ":" + name, True
    return str(started["executionArn"]), False

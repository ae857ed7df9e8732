"""Checking a run's ranges: each must start where the one before it stopped (a cut is only a
guess: a quoted field may hold line breaks); those that do not are scored again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from predictor.batch.chunks import RowCounts
from predictor.batch.fan_out.plan import S3_THREADS, Plan, Range, RangeResult
from predictor.io import s3_store

#: Rounds of re-scoring misplaced ranges before the run gives up.
MAX_ROUNDS = 8


# ----- check -----------------------------------------------------------------------------
@dataclass(slots=True)
class Check:
    """Where a run stands after a round of scoring."""

    #: "scoring" (ranges to score again in ``pending``), "finalizing" or "failed".
    status: str
    pending: list[Range] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reason: str | None = None


def check_run(s3: Any, plan: Plan, scored: list[Range], round_number: int) -> Check:
    """Follow the chain of ranges; store it when it holds, else say what to score again.

    ``scored`` are the ranges the last round scored: one of them with no result failed
    after its retries.
    """
    bucket = plan.input.bucket
    wanted: dict[tuple[int, int], RangeResult | None] = {}

    def fetch(index: int, start: int) -> RangeResult | None:
        if (index, start) not in wanted:
            found = s3_store.read_json(s3, bucket, plan.part_key(index, start, "json"))
            wanted[(index, start)] = None if found is None else RangeResult.from_dict(found[0])
        return wanted[(index, start)]

    # Most results are where they were planned: read those at once.
    with ThreadPoolExecutor(S3_THREADS) as pool:
        list(pool.map(lambda r: fetch(r.index, r.start), plan.ranges))
    ran = {(r.index, r.start) for r in scored}
    chain: list[RangeResult] = []
    pending: list[Range] = []
    failed: list[int] = []
    expected: int | None = plan.data_start
    # The line ``expected`` begins on, when the rows' ids need it (a planned first line).
    counting = bool(plan.ranges and plan.ranges[0].first_line)
    line = plan.ranges[0].first_line if counting else 0
    for planned in plan.ranges:
        if expected is not None and expected >= planned.end:
            chain.append(_empty(planned.index, expected))  # swallowed by the range before
            continue
        result = fetch(planned.index, expected) if expected is not None else None
        if result is not None and result.failed:
            return Check("failed", failed=[planned.index], reason=result.failed)
        if result is not None:
            chain.append(result)
            expected = result.end
            line = line + result.lines if counting else 0
            continue
        if expected is not None:
            if (planned.index, expected) in ran:
                failed.append(planned.index)
            else:
                pending.append(Range(planned.index, expected, planned.end, line))
        guess = fetch(planned.index, planned.start)
        expected = guess.end if guess is not None and not guess.failed else None
        line = planned.first_line + guess.lines if guess is not None and counting else 0
    if failed:
        return Check("failed", failed=failed, reason="scoring failed after its retries")
    if pending:
        if round_number >= MAX_ROUNDS:
            return Check(
                "failed",
                failed=[r.index for r in pending],
                reason=f"ranges still misaligned after {MAX_ROUNDS} rounds",
            )
        return Check("scoring", pending=pending)
    first_line = plan.header_lines + 1
    links = []
    for result in chain:
        links.append({**result.to_dict(), "first_line": first_line})
        first_line += result.lines
    s3_store.write_json(s3, bucket, plan.prefix + "chain.json", {"ranges": links})
    return Check("finalizing")


def unfinished(s3: Any, plan: Plan, ranges: list[Range]) -> list[int]:
    """The ranges among ``ranges`` that have no result (they failed, or never ran)."""
    bucket = plan.input.bucket
    return [
        item.index
        for item in ranges
        if s3_store.read_json(s3, bucket, plan.part_key(item.index, item.start, "json")) is None
    ]


def _empty(index: int, at: int) -> RangeResult:
    return RangeResult(index, at, at, 0, RowCounts(), "", 0, None, 0, 0.0, "")

"""Cold start under Lambda's CPU share: the built realtime function, with and without its
OpenBLAS setting.

Lambda gives a function CPU in proportion to its memory (one vCPU's worth at 1,769 MB),
as a quota, not as fewer cores: at the realtime function's 1,024 MB a process gets 58 ms
of CPU in every 100 ms, over however many threads it runs. numpy's OpenBLAS starts a
thread per core when it is imported, and each spins for about 0.1 s of CPU waiting for
work; under a quota that time is the cold start's. The template sets
``OPENBLAS_NUM_THREADS=1`` for the serving functions.

This runs the cold start of ``bench.realtime`` (process start to the first answer,
capture and kept predictions on) for each wine model and the default training job's own
choice, in four ways interleaved: as deployed (the template's variables) and with
OpenBLAS's default thread count, each under the quota and without one. The quota is a
CPU cgroup (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), so it needs root; without it the
benchmark says so and stops. Prints the table and writes results/cold_share.json.

    python -m bench.cold_share [--rounds 3] [--models linear,default]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from bench.realtime import (
    COLD_HANDLER,
    RESULTS,
    ROOT,
    cold_start_seconds,
    lambda_environment,
)
from infra.cfn_yaml import load_template
from infra.local_env import TEMPLATE, LocalAws, function_environment

#: Lambda's memory for one vCPU's worth of CPU.
MIB_PER_VCPU = 1769
PERIOD_US = 100_000
GROUP = "serverless-predictor-cold-share"
MODELS = ("linear", "random_forest", "extra_trees", "hist_gradient_boosting", "default")


def realtime_memory_mib() -> int:
    """The realtime function's MemorySize in template.yaml."""
    resources = load_template(TEMPLATE)["Resources"]
    return int(resources["RealtimeFunction"]["Properties"]["MemorySize"])


def cpu_quota_group(share: float) -> tuple[Path | None, str]:
    """A CPU cgroup limited to ``share`` of one CPU: its ``cgroup.procs``, or None and why."""
    quota = int(share * PERIOD_US)
    unified = Path("/sys/fs/cgroup")
    try:
        if "cpu" in (unified / "cgroup.controllers").read_text().split():
            group = unified / GROUP
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            return group / "cgroup.procs", f"cgroup v2 cpu.max {quota} {PERIOD_US}"
    except OSError:
        pass
    try:
        group = unified / "cpu" / GROUP
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(quota))
        return group / "cgroup.procs", f"cgroup v1 cpu.cfs_quota_us {quota} of {PERIOD_US}"
    except OSError as exc:
        return None, f"no CPU cgroup could be made here ({exc}); it needs root"


def entering(procs: Path) -> Callable[[], None]:
    """What a child runs before its interpreter starts: join the group."""

    def enter() -> None:
        procs.write_text(str(os.getpid()))

    return enter


def publish(kind: str, local: LocalAws) -> str:
    """Train ``kind`` on the wine data (``default``: the default job) and promote it."""
    from bench.models import WINE, train_and_promote
    from infra.local_env import MODEL_BUCKET
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    name = f"cold-{kind.replace('_', '-')}"
    if kind == "default":
        registry = RegistryLocation(MODEL_BUCKET)
        config = TrainingConfig(
            data=str(WINE), target="quality", name=name, registry=registry,
            promote="production", force=True,
        )  # fmt: skip
        run_training(config, local.s3)
    else:
        train_and_promote(local.s3, MODEL_BUCKET, kind, name=name)
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 3 processes per way")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    args = parser.parse_args(argv)
    kinds = args.models.split(",")
    if unknown := set(kinds) - set(MODELS):
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}")
    package = ROOT / ".aws-sam" / "build" / "RealtimeFunction"
    if not package.is_dir():
        print(f"{package} is missing: run `make build` first", file=sys.stderr)
        return 2
    memory = realtime_memory_mib()
    share = memory / MIB_PER_VCPU
    procs, how = cpu_quota_group(share)
    if procs is None:
        print(f"cold_share: skipped: {how}")
        return 0
    local = LocalAws().start()
    os.environ.update(function_environment(local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"))
    names = {kind: publish(kind, local) for kind in kinds}
    deployed = lambda_environment(package)
    ways = {
        "as deployed": deployed,
        "OpenBLAS default": {**deployed, "OPENBLAS_NUM_THREADS": "0"},
    }
    code = COLD_HANDLER.format(package=str(package), infra=str(ROOT / "infra"))
    samples: dict[tuple[str, str, bool], list[float]] = {}
    cpu: dict[tuple[str, str, bool], list[float]] = {}
    for round_ in range(args.rounds):
        for kind in kinds:
            for way, env in ways.items():
                for limited in (True, False):
                    run = cold_start_seconds(
                        code, {**env, "MODEL_NAME": names[kind]}, runs=3,
                        enter=entering(procs) if limited else None,
                    )  # fmt: skip
                    got = samples.setdefault((kind, way, limited), [])
                    got += [run["min_s"], run["median_s"], run["max_s"]]
                    used = cpu.setdefault((kind, way, limited), [])
                    used += [step["cpu_s"] for step in run["steps_s"]]
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)
    local.stop()

    print(
        f"Cold start (s) of the built realtime function, median [range] of {3 * args.rounds} "
        f"processes per cell, under {memory} MB's CPU share ({share:.2f} of a CPU: {how}) "
        "and without a quota; cpu: median CPU seconds of all the process's threads until "
        "its answer"
    )
    table = []
    for kind in kinds:
        row: dict[str, object] = {"model": kind}
        cells = []
        for limited in (True, False):
            for way in ways:
                values = samples[(kind, way, limited)]
                used = statistics.median(cpu[(kind, way, limited)])
                label = f"{way}{' (quota)' if limited else ''}"
                row[label] = {"median_s": statistics.median(values), "samples_s": values,
                              "cpu_median_s": used}  # fmt: skip
                cells.append(
                    f"{label}: {statistics.median(values):.3f} "
                    f"[{min(values):.3f}-{max(values):.3f}] cpu {used:.3f}"
                )
        table.append(row)
        print(f"{kind:24} " + " | ".join(cells))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_share.json").write_text(
        json.dumps({"memory_mb": memory, "cpu_share": share, "models": table}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

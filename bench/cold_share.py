"""Cold start under Lambda's CPU share: the built realtime function, with and without its
OpenBLAS setting.

Lambda gives a function CPU in proportion to its memory (one vCPU's worth at 1,769 MB)
as a quota, not as fewer cores: below 1,769 MB a process gets that fraction of each
100 ms of CPU time, over however many threads it runs. numpy's OpenBLAS starts worker
threads (one per core beyond the first) when it is imported, and they spin on the CPU
waiting for work the function never gives them; under a quota that CPU time is taken
from the cold start. The template sets ``OPENBLAS_NUM_THREADS=1`` for the serving
functions.

This runs the cold start of ``bench.realtime`` (process start to the first answer,
capture and kept predictions on) for each wine model and the default training job's own
choice, four ways in a shuffled order each round: as deployed (the template's variables)
and with OpenBLAS's default thread count, each under the quota of ``--memory`` (the
template's ``MemorySize`` of the function by default) and without one. The quota is a
CPU cgroup (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), which needs root; without one
the benchmark says why and stops. It models the share on this machine: Lambda itself is
not measured. Prints the table and writes results/cold_share.json.

    python -m bench.cold_share [--rounds 3] [--models linear,default] [--memory 1769]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.realtime import (
    COLD_HANDLER,
    RESULTS,
    ROOT,
    cold_start_seconds,
    lambda_environment,
)
from infra.cfn_yaml import load_template
from infra.local_env import MODEL_BUCKET, TEMPLATE, LocalAws, function_environment

#: Lambda's memory for one vCPU's worth of CPU.
MIB_PER_VCPU = 1769
PERIOD_US = 100_000
GROUP = "serverless-predictor-cold-share"
MODELS = ("linear", "random_forest", "extra_trees", "hist_gradient_boosting", "default")
#: Variables that set OpenBLAS's threads (it falls back to OpenMP's when its own is unset).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
#: Starts a command in the cgroup whose ``cgroup.procs`` is ``$0``: no ``preexec_fn``,
#: which is unsafe in a process with threads (moto's server runs in this one).
ENTER_GROUP = 'echo $$ > "$0" && exec "$@"'


def realtime_memory_mib() -> int:
    """The realtime function's MemorySize in template.yaml."""
    resources = load_template(TEMPLATE)["Resources"]
    return int(resources["RealtimeFunction"]["Properties"]["MemorySize"])


@contextlib.contextmanager
def cpu_quota_group(share: float) -> Iterator[tuple[Path | None, str]]:
    """A CPU cgroup limited to ``share`` of one CPU: its ``cgroup.procs`` and how it is
    limited, or None and why none could be made. Removed afterwards."""
    quota = int(share * PERIOD_US)
    unified = Path("/sys/fs/cgroup")
    group: Path | None = None
    procs: Path | None = None
    try:
        if (unified / "cgroup.controllers").is_file():
            if "cpu" not in (unified / "cgroup.controllers").read_text().split():
                raise OSError("cgroup v2 without the cpu controller")
            (unified / "cgroup.subtree_control").write_text("+cpu")
            group = unified / GROUP
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            procs, how = group / "cgroup.procs", f"cgroup v2 cpu.max {quota} {PERIOD_US}"
        else:
            group = unified / "cpu" / GROUP
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
            procs, how = group / "cgroup.procs", f"cgroup v1 cfs quota {quota} of {PERIOD_US} us"
    except OSError as exc:
        how = f"no CPU cgroup could be made ({exc}; it needs root and a cpu controller)"
    try:
        yield procs, how
    finally:
        if group is not None:
            with contextlib.suppress(OSError):  # every child has exited: the group is empty
                group.rmdir()


def publish(kind: str, local: LocalAws) -> str:
    """Train ``kind`` on the wine data (``default``: the default job) and promote it."""
    from bench.models import WINE, train_and_promote
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


def ways_to_start(package: Path) -> dict[str, dict[str, str]]:
    """The environments compared: as the template deploys the function, and OpenBLAS
    left to its default (no thread variable at all)."""
    deployed = lambda_environment(package)
    default = {k: v for k, v in deployed.items() if k not in BLAS_THREAD_VARIABLES}
    return {"as deployed": deployed, "OpenBLAS default": default}


def measure(
    kinds: list[str], rounds: int, procs: Path, package: Path, local: LocalAws
) -> dict[tuple[str, str, bool], dict[str, list[float]]]:
    """Every (model, way, under the quota) cell's cold starts and CPU seconds."""
    names = {kind: publish(kind, local) for kind in kinds}
    ways = ways_to_start(package)
    code = COLD_HANDLER.format(package=str(package), infra=str(ROOT / "infra"))
    cells = [(way, limited) for way in ways for limited in (True, False)]
    order = random.Random(0)  # noqa: S311 (an order of runs, not a secret)
    results: dict[tuple[str, str, bool], dict[str, list[float]]] = {}
    for round_ in range(rounds):
        for kind in kinds:
            order.shuffle(cells)  # no way always runs first (or after another)
            for way, limited in cells:
                prefix = ["sh", "-c", ENTER_GROUP if limited else 'exec "$@"', str(procs)]
                run = cold_start_seconds(
                    code, {**ways[way], "MODEL_NAME": names[kind]}, runs=3, prefix=prefix
                )
                cell = results.setdefault((kind, way, limited), {"seconds": [], "cpu": []})
                cell["seconds"] += run["samples_s"]
                cell["cpu"] += [step["cpu_s"] for step in run["steps_s"]]
        print(f"round {round_ + 1}/{rounds} done", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 3 processes a cell")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--memory", type=int, help="MB whose CPU share to apply (template's)")
    args = parser.parse_args(argv)
    kinds = list(dict.fromkeys(args.models.split(",")))
    if unknown := set(kinds) - set(MODELS):
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    memory = args.memory or realtime_memory_mib()
    if not 128 <= memory <= 10240:
        parser.error("--memory is Lambda's: 128 to 10,240 MB")
    package = ROOT / ".aws-sam" / "build" / "RealtimeFunction"
    if not package.is_dir():
        print(f"{package} is missing: run `make build` first", file=sys.stderr)
        return 2
    share = memory / MIB_PER_VCPU
    with cpu_quota_group(share) as (procs, how):
        if procs is None:
            print(f"cold_share: skipped: {how}")
            return 0
        local = LocalAws().start()
        try:
            environment = function_environment(
                local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"
            )
            os.environ.update(environment)
            results = measure(kinds, args.rounds, procs, package, local)
        finally:
            local.stop()

    samples = 3 * args.rounds
    print(
        f"Cold start (s) of the built realtime function, median [range] of {samples} processes "
        f"a cell, under {memory} MB's CPU share ({share:.2f} of a CPU: {how}) and without a "
        "quota; cpu: median CPU seconds of all the process's threads until its answer"
    )
    table: list[dict[str, Any]] = []
    for kind in kinds:
        row: dict[str, Any] = {"model": kind}
        cells = []
        for limited in (True, False):
            for way in ("as deployed", "OpenBLAS default"):
                cell = results[(kind, way, limited)]
                label = f"{way}{' (quota)' if limited else ''}"
                median, cpu = statistics.median(cell["seconds"]), statistics.median(cell["cpu"])
                row[label] = {"median_s": median, "samples_s": cell["seconds"],
                              "cpu_median_s": cpu, "cpu_samples_s": cell["cpu"]}  # fmt: skip
                low, high = min(cell["seconds"]), max(cell["seconds"])
                cells.append(f"{label}: {median:.3f} [{low:.3f}-{high:.3f}] cpu {cpu:.3f}")
        table.append(row)
        print(f"{kind:24} " + " | ".join(cells))
    RESULTS.mkdir(exist_ok=True)
    document = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "memory_mb": memory, "cpu_share": share, "quota": how, "rounds": args.rounds,
        "processes_per_cell": samples, "models": table,
    }  # fmt: skip
    (RESULTS / "cold_share.json").write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

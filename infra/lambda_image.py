"""The Lambda base image `sam local` runs the functions in: the official one, or a stand-in.

`sam local invoke` and `start-api` run a function in a container of the image Lambda
uses for its runtime, ``public.ecr.aws/lambda/python:3.13-x86_64`` (SAM adds its own
runtime interface emulator on top). Where that image can be pulled, it is used. Where no
image registry is reachable, this builds a stand-in from pinned inputs and imports it
under the official name, so that `sam local ... --skip-pull-image` and the training
Dockerfile's ``FROM`` find it:

- a Debian bookworm minimal root file system (``debootstrap --variant=minbase``, from the
  Debian mirror apt is configured with), with the shared libraries Python needs at the
  versions pinned in :data:`PACKAGES` (the build fails, saying so, when the mirror has
  moved on from a pin);
- the Python 3.13 that ``infra/find-python.sh`` finds, copied to ``/var/lang``;
- AWS's runtime interface client ``awslambdaric`` from ``requirements-lambda-image.txt``
  (versions and hashes) in ``/var/runtime``, started by ``/var/runtime/bootstrap``;
- Lambda's environment: ``LAMBDA_TASK_ROOT=/var/task``, ``LAMBDA_RUNTIME_DIR``,
  ``LD_LIBRARY_PATH``, ``PATH``, working directory ``/var/task`` and the official image's
  entry point script.

How it differs from the official image: Debian's libraries instead of Amazon Linux
2023's, the Python patch release this machine has instead of Lambda's latest 3.13.x, no
boto3 preinstalled in the runtime (the functions ship their own), and no runtime
interface emulator inside (SAM brings its own). The image carries labels saying it is a
stand-in and which inputs made it; it is rebuilt only when those inputs change.

Usage: ``python -m infra.lambda_image`` (``make lambda-image``). Prints which image it
used; exit status 0 when an image is ready, 2 when Docker is not available (with why).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra.local_env import ROOT

#: The names `sam local` (runtime python3.13, x86_64) and the training Dockerfile look for.
IMAGE = "public.ecr.aws/lambda/python:3.13-x86_64"
ALIASES = ("public.ecr.aws/lambda/python:3.13",)
#: What `sam local` builds on IMAGE (IMAGE plus its runtime interface emulator).
EMULATOR_IMAGE = "public.ecr.aws/lambda/python:3.13-rapid-x86_64"
#: Debian release of the stand-in's root file system.
SUITE = "bookworm"
#: Shared libraries Python 3.13 loads, pinned to the versions of Debian 12's main suite.
PACKAGES = {
    "libssl3": "3.0.20-1~deb12u2",
    "libsqlite3-0": "3.40.1-2+deb12u2",
    "libffi8": "3.4.4-1",
    "zlib1g": "1:1.2.13.dfsg-1",
    "liblzma5": "5.4.1-1+deb12u1",
    "libbz2-1.0": "1.0.8-5+b1",
    "libreadline8": "8.2-1.3",
    "ca-certificates": "20230311+deb12u1",
}
RIC_REQUIREMENTS = ROOT / "requirements-lambda-image.txt"
CACHE = ROOT / ".cache" / "lambda-image"
APT_SOURCES = Path("/etc/apt")
STAND_IN_LABEL = "org.serverless-predictor.stand-in"
INPUTS_LABEL = "org.serverless-predictor.inputs"

BOOTSTRAP = """#!/bin/sh
# Starts AWS's runtime interface client with the function's handler, as Lambda's
# python3.13 runtime does.
export PYTHONPATH="/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
exec /var/lang/bin/python3.13 -m awslambdaric "${1:-$_HANDLER}"
"""

ENTRYPOINT = """#!/bin/sh
# The official image's entry point: the runtime's bootstrap with the handler (CMD).
# `sam local` starts this behind its own runtime interface emulator.
exec /var/runtime/bootstrap "$@"
"""

ENVIRONMENT = {
    "LANG": "en_US.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib"
    ":/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}


class DockerUnavailable(Exception):
    """Docker cannot be used here; the message says why."""


def tool(name: str) -> str:
    """The full path of command ``name``; RuntimeError naming the package when absent."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {name})")
    return path


#: No step of the build may take longer than this (seconds): a stuck one fails, not hangs.
STEP_TIMEOUT = 900


def run(*command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``command``, raising with its output when it fails or outlasts STEP_TIMEOUT."""
    kwargs.setdefault("timeout", STEP_TIMEOUT)
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{' '.join(command[:3])}... took over {exc.timeout} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}... failed:\n{done.stdout}{done.stderr}")
    return done  # type: ignore[no-any-return]


def docker_ready() -> None:
    """Raise DockerUnavailable unless a Docker daemon answers."""
    docker = shutil.which("docker")
    if docker is None:
        raise DockerUnavailable("no docker client on PATH (install Debian's docker.io)")
    done = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise DockerUnavailable(f"the Docker daemon does not answer: {reason}")


def image_labels(name: str) -> dict[str, str] | None:
    """The labels of local image ``name`` ({} when it has none), or None when absent."""
    done = subprocess.run(
        [tool("docker"), "image", "inspect", "--format", "{{json .Config.Labels}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip() or "null") or {}


def python_prefix() -> Path:
    """The prefix of the Python 3.13 that infra/find-python.sh finds."""
    python = run(str(ROOT / "infra" / "find-python.sh")).stdout.strip()
    prefix = Path(run(python, "-c", "import sys; print(sys.base_prefix)").stdout.strip())
    if prefix in (Path("/usr"), Path("/usr/local")):
        # A system Python is built against the system's own libraries, and copying its
        # prefix would copy the whole of /usr: the stand-in needs a standalone build.
        raise RuntimeError(
            f"the Python 3.13 found lives in {prefix}: the stand-in needs a standalone one "
            "(pyenv's, for one); put it first on PATH and run again"
        )
    return prefix


def inputs_digest(prefix: Path) -> str:
    """What the stand-in is made of, as one SHA-256: rebuilt when any of it changes."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(RIC_REQUIREMENTS.read_bytes())
    version = run(str(prefix / "bin" / "python3.13"), "-VV").stdout
    digest.update(f"{prefix}\n{version}".encode())
    return digest.hexdigest()[:16]


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 or one-line sources)."""
    sources = APT_SOURCES / "sources.list.d" / "debian.sources"
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    listing = APT_SOURCES / "sources.list"
    if listing.is_file():
        for line in listing.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and SUITE in words:
                return next(w for w in words[1:] if "://" in w)
    raise RuntimeError("no Debian mirror found in apt's sources")


def build_root(root: Path, prefix: Path) -> None:
    """The stand-in's file system under ``root``."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError(
            "debootstrap is needed to build the stand-in (apt-get install debootstrap)"
        )
    run(
        tool("debootstrap"),
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(root),
        debian_mirror(),
    )
    installed = run(
        tool("chroot"), str(root), "dpkg-query", "-W", "-f", "${Package} ${Version}\n", *PACKAGES
    ).stdout
    versions = dict(line.split(" ", 1) for line in installed.splitlines())
    moved = {p: v for p, v in versions.items() if PACKAGES[p] != v}
    if moved:
        raise RuntimeError(
            "the Debian mirror no longer has the pinned versions: "
            + ", ".join(f"{p} {PACKAGES[p]} -> {v}" for p, v in moved.items())
            + " (update PACKAGES in infra/lambda_image.py)"
        )
    run(tool("chroot"), str(root), "apt-get", "clean")
    shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
    lang = root / "var" / "lang"
    shutil.copytree(
        prefix, lang, symlinks=True, ignore=shutil.ignore_patterns("test", "__pycache__")
    )
    for script in (lang / "bin").iterdir():  # pip and friends name the old prefix
        if script.is_file() and not script.is_symlink():
            head = script.read_bytes()[:256]
            if head.startswith(b"#!" + str(prefix).encode()):
                text = script.read_bytes().split(b"\n", 1)
                script.write_bytes(b"#!/var/lang/bin/python3.13\n" + text[1])
    runtime = root / "var" / "runtime"
    run(
        str(prefix / "bin" / "python3.13"), "-m", "pip", "install", "--quiet",
        "--disable-pip-version-check", "--no-compile", "--only-binary=:all:",
        "--implementation", "cp", "--python-version", "3.13",
        "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
        "--target", str(runtime), "--require-hashes", "-r", str(RIC_REQUIREMENTS),
    )  # fmt: skip
    (runtime / "bootstrap").write_text(BOOTSTRAP)
    (runtime / "bootstrap").chmod(0o755)
    (root / "lambda-entrypoint.sh").write_text(ENTRYPOINT)
    (root / "lambda-entrypoint.sh").chmod(0o755)
    (root / "var" / "task").mkdir(parents=True, exist_ok=True)
    (root / "opt").mkdir(exist_ok=True)


def import_image(root: Path, digest: str) -> None:
    """Import ``root`` as the image, with Lambda's environment and this build's labels."""
    changes = [f"ENV {key}={value}" for key, value in ENVIRONMENT.items()]
    changes += [
        "WORKDIR /var/task",
        'ENTRYPOINT ["/lambda-entrypoint.sh"]',
        f"LABEL {STAND_IN_LABEL}=true {INPUTS_LABEL}={digest}",
    ]
    arguments = [a for change in changes for a in ("--change", change)]
    tar = subprocess.Popen([tool("tar"), "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    done = subprocess.run(
        [tool("docker"), "import", *arguments, "-", IMAGE],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    if tar.stdout is not None:
        tar.stdout.close()  # so tar stops, not blocks, if docker import gave up early
    tar.wait(timeout=STEP_TIMEOUT)
    if done.returncode != 0 or tar.returncode != 0:
        raise RuntimeError(f"docker import failed: {done.stderr}")
    for alias in ALIASES:
        run(tool("docker"), "tag", IMAGE, alias)
    forget_emulator_image()


def forget_emulator_image() -> None:
    """Drop the image SAM built on the previous base (it adds its emulator on top and,
    with --skip-pull-image, would go on using that one after the base changed)."""
    subprocess.run(
        [tool("docker"), "rmi", "--force", EMULATOR_IMAGE],
        capture_output=True,
        check=False,
        timeout=120,
    )


def pull_official(timeout: float) -> bool:
    """Whether the official image could be pulled within ``timeout`` seconds."""
    try:
        done = subprocess.run(
            [tool("docker"), "pull", IMAGE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    if done.returncode != 0:
        return False
    for alias in ALIASES:
        run(tool("docker"), "tag", IMAGE, alias)
    forget_emulator_image()
    return True


def ensure_image() -> str:
    """Make the base image available; returns a line saying which one and how."""
    docker_ready()
    labels = image_labels(IMAGE)
    if labels is not None and STAND_IN_LABEL not in labels:
        for alias in ALIASES:
            run(tool("docker"), "tag", IMAGE, alias)
        return f"{IMAGE}: the official image (already here)"
    prefix = python_prefix()
    digest = inputs_digest(prefix)
    if labels is not None and labels.get(INPUTS_LABEL) == digest:
        for alias in ALIASES:
            run(tool("docker"), "tag", IMAGE, alias)
        return f"{IMAGE}: the stand-in, cached (inputs {digest})"
    started = time.perf_counter()
    if pull_official(timeout=float(os.environ.get("LAMBDA_IMAGE_PULL_TIMEOUT", "60"))):
        return f"{IMAGE}: the official image, pulled in {time.perf_counter() - started:.0f} s"
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        root = Path(work) / "root"
        build_root(root, prefix)
        import_image(root, digest)
    seconds = time.perf_counter() - started
    return (
        f"{IMAGE}: the stand-in (the official image could not be pulled), built in "
        f"{seconds:.0f} s from Debian {SUITE}, Python {prefix.name} and "
        f"{RIC_REQUIREMENTS.name} (inputs {digest})"
    )


def ensure_image_or_say_why(program: str) -> tuple[str | None, int]:
    """:func:`ensure_image`'s line and 0, or None and the exit status after saying why
    on stderr (2: Docker is not available, 1: no image could be had)."""
    try:
        return ensure_image(), 0
    except DockerUnavailable as exc:
        print(f"{program}: Docker is not available: {exc}", file=sys.stderr)
        return None, 2
    except RuntimeError as exc:
        print(f"{program}: no Lambda base image: {exc}", file=sys.stderr)
        return None, 1


def main() -> int:
    line, status = ensure_image_or_say_why("lambda image")
    if line is not None:
        print(line, flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())

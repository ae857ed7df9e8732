"""moto's S3 server in a container, for functions that run in containers (`make sam-local`).

The functions' containers join a Docker network (:data:`NETWORK`) and reach moto there by
address; this machine reaches it at 127.0.0.1, the only address it is published on.
The image (``infra/moto.Dockerfile``, moto from its own hashed lock) is built once per
content of those two files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from infra.lambda_image import image_labels, run, tool
from infra.local_env import ROOT, create_buckets, use_fake_credentials

#: The Docker network moto and the functions' containers share.
NETWORK = "serverless-predictor-local"
#: Every moto container's name starts so (the rest is this process's id).
NAME_PREFIX = "serverless-predictor-moto-"
MOTO_IMAGE = "serverless-predictor/moto"
MOTO_FILES = (ROOT / "infra" / "moto.Dockerfile", ROOT / "requirements-moto.txt")


class MotoContainer:
    """moto's S3 server in a container on NETWORK, published on 127.0.0.1."""

    def __init__(self) -> None:
        self.name = f"{NAME_PREFIX}{os.getpid()}"
        self.host_endpoint = ""  # for this script
        self.network_endpoint = ""  # for the functions' containers

    def start(self) -> str:
        """Start it (building its image if needed); returns "built" or "cached"."""
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in MOTO_FILES)).hexdigest()[:12]
        image = f"{MOTO_IMAGE}:{digest}"
        built = "cached"
        if image_labels(image) is None:
            with tempfile.TemporaryDirectory() as context:
                for path in MOTO_FILES:
                    shutil.copy(path, context)
                dockerfile = f"{context}/moto.Dockerfile"
                run(tool("docker"), "build", "-q", "-f", dockerfile, "-t", image, context)
            built = "built"
        network = [tool("docker"), "network", "inspect", NETWORK]
        if subprocess.run(network, capture_output=True, check=False).returncode:
            run(tool("docker"), "network", "create", NETWORK)
        run(
            tool("docker"), "run", "--detach", "--name", self.name, "--network", NETWORK,
            "--publish", "127.0.0.1::5000", image,
        )  # fmt: skip
        port = run(tool("docker"), "port", self.name, "5000").stdout.split()[0].rsplit(":", 1)[1]
        address = run(
            tool("docker"), "inspect", "--format",
            f"{{{{(index .NetworkSettings.Networks {json.dumps(NETWORK)}).IPAddress}}}}",
            self.name,
        ).stdout.strip()  # fmt: skip
        self.host_endpoint = f"http://127.0.0.1:{port}"
        # An address, not the container's name: botocore would put the bucket in the host
        # name (virtual-hosted style) for a name, which the network's DNS cannot resolve.
        self.network_endpoint = f"http://{address}:5000"
        deadline = time.monotonic() + 60
        while True:
            try:
                # http://127.0.0.1:<port>, made above
                urllib.request.urlopen(f"{self.host_endpoint}/moto-api/", timeout=5).read()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        return built

    def stop(self) -> None:
        subprocess.run(
            [tool("docker"), "rm", "--force", self.name],
            capture_output=True,
            check=False,
            timeout=60,
        )


def s3_client(endpoint: str) -> Any:
    """A client of the moto container, with the buckets the template defines."""
    import boto3

    use_fake_credentials()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    s3 = boto3.client("s3")
    create_buckets(s3)
    return s3


def remove_network() -> None:
    """Remove NETWORK (once nothing is attached to it)."""
    subprocess.run(
        [tool("docker"), "network", "rm", NETWORK], capture_output=True, check=False, timeout=60
    )

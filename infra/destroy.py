"""``make destroy STACK=...``: delete a stack, keep its data, say what was kept.

The model and data buckets are retained (``DeletionPolicy: Retain`` in template.yaml):
deleting the stack never deletes a model, an alias, a report or a scored file. This
command deletes the stack, then lists what it kept and how to remove it for good
(``--purge`` does that: every object version of both buckets, then the buckets).
Exit status: 0 done, 1 the deletion failed, 2 no such stack or no AWS.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.stack import NoAwsError, caller_identity, describe, region_of


def _count(s3: Any, bucket: str) -> tuple[int, int] | None:
    """(objects, bytes) of a bucket's current objects; None when it is gone."""
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        objects = size = 0
        for page in pages:
            for entry in page.get("Contents", []):
                objects, size = objects + 1, size + int(entry["Size"])
        return objects, size
    except s3.exceptions.NoSuchBucket:
        return None


def purge(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of a bucket, then the bucket."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        for start in range(0, len(entries), 1000):
            chunk = entries[start : start + 1000]
            s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in chunk]},
            )
            removed += len(chunk)
    s3.delete_bucket(Bucket=bucket)
    return removed


def main(argv: list[str] | None = None) -> int:
    """Delete the stack; report (or purge) the buckets it kept."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack")
    where.add_argument(
        "--purge-bucket",
        action="append",
        metavar="NAME",
        help="a bucket a deleted stack kept: delete it and every object version in it",
    )
    parser.add_argument("--region")
    parser.add_argument(
        "--purge", action="store_true", help="also delete both buckets and every object in them"
    )
    args = parser.parse_args(argv)
    try:
        region = region_of(args.region)
        caller_identity(region)
        stack = describe(args.stack, region) if args.stack else None
    except NoAwsError as exc:
        print(f"destroy: {exc}", file=sys.stderr)
        return 2
    import boto3

    if args.purge_bucket:
        s3 = boto3.client("s3", region_name=region)
        for bucket in args.purge_bucket:
            print(f"destroy: purged s3://{bucket} ({purge(s3, bucket)} object versions)")
        return 0
    if stack is None:
        print(f"destroy: no stack {args.stack!r} in {region}", file=sys.stderr)
        return 2
    buckets = [
        b for b in (stack.outputs.get("ModelBucketName"), stack.outputs.get("DataBucketName")) if b
    ]
    cloudformation = boto3.client("cloudformation", region_name=region)
    print(f"destroy: deleting stack {stack.name} in {region} ...", flush=True)
    cloudformation.delete_stack(StackName=stack.name)
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack.name)
    except Exception as exc:
        print(f"destroy: the stack was not deleted: {exc}", file=sys.stderr)
        return 1
    print(f"destroy: stack {stack.name} deleted")
    s3 = boto3.client("s3", region_name=region)
    for bucket in buckets:
        if args.purge:
            print(f"destroy: purged s3://{bucket} ({purge(s3, bucket)} object versions)")
            continue
        counted = _count(s3, bucket)
        if counted is None:
            continue
        objects, size = counted
        print(f"kept: s3://{bucket} ({objects} objects, {size / 2**20:.1f} MiB, versions kept too)")
    if buckets and not args.purge:
        print(
            "The buckets outlive the stack: a new stack of the same name needs the data bucket "
            "gone first (its name is fixed). To remove them for good, every version included:\n"
            "  python -m infra.destroy --region "
            + region
            + "".join(f" --purge-bucket {b}" for b in buckets)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

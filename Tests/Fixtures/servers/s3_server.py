"""A real S3-compatible server for the tests: moto_server with signature checking on.

moto checks SigV4 signatures only once INITIAL_NO_AUTH_ACTION_COUNT unauthenticated calls have
been spent. This script spends exactly those calls creating an IAM user, its policy and its
access key, then uses that key to create buckets and upload objects, and prints one line

    READY {"endpoint": "http://127.0.0.1:PORT", "access_key": "...", "secret_key": "..."}

It runs until it is terminated.

    s3_server.py --port PORT [--upload s3://bucket/prefix=/local/dir]... [--filler s3://bucket/prefix=COUNT]...
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

NO_AUTH_CALLS = 3
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_CALLS)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def wait_for_port(port, timeout=30.0):
    # Any HTTP request would spend one of the unauthenticated calls: probe with a TCP connect.
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"moto did not listen on {port}")


def split_target(spec):
    # The last "=": prefixes may hold "=" themselves (s3://adapters/team a+b=c/v1=/local/dir).
    target, value = spec.rsplit("=", 1)
    bucket, _, prefix = target[len("s3://"):].partition("/")
    return bucket, prefix.strip("/"), value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upload", action="append", default=[])
    parser.add_argument("--filler", action="append", default=[])
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port)
    server.start()
    wait_for_port(args.port)
    endpoint = f"http://127.0.0.1:{args.port}"

    iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="patchwork")
    iam.put_user_policy(UserName="patchwork", PolicyName="s3-all", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="patchwork")["AccessKey"]

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    buckets = set()

    def bucket(name):
        if name not in buckets:
            s3.create_bucket(Bucket=name)
            buckets.add(name)

    for spec in args.upload:
        name, prefix, directory = split_target(spec)
        bucket(name)
        for root, _, files in os.walk(directory):
            for file in sorted(files):
                path = os.path.join(root, file)
                relative = os.path.relpath(path, directory)
                s3.upload_file(path, name, f"{prefix}/{relative}" if prefix else relative)
    for spec in args.filler:
        name, prefix, count = split_target(spec)
        bucket(name)
        for i in range(int(count)):
            s3.put_object(Bucket=name, Key=f"{prefix}/extra/file-{i:04d}.txt", Body=f"filler {i}\n".encode())

    print("READY " + json.dumps({"endpoint": endpoint, "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (server.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

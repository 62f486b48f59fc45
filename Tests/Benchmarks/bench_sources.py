#!/usr/bin/env python3
"""Adapter source benchmark: a release worker loading the demo adapter `uppercase` (9.8 MB):

 1. cold from s3:// (moto, signatures checked, on loopback): list, download, check MD5s,
    validate, install, load;
 2. warm from the cache: the listing is checked again, nothing is downloaded;
 3. cold and warm from hf:// (a local server speaking the Hub's protocol);
 4. from file:// for reference (no cache involved).

Cold and warm loads alternate (abtest.py): one untimed warm-up pair, then --pairs pairs, each a
cold load (the cache entry deleted first) and a warm one, printed with the median of the
per-pair ratios; the other figures are medians of --runs loads. Loads unload in between.
Loopback hides network time: the cold/warm gap here is the download and checking work, a lower
bound of what a remote store costs. Run by `make bench-sources`; never in `make test`.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import abtest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADAPTER = os.path.join(ROOT, "examples/adapters/uppercase")
COMMIT = "d" * 40


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_line(process, prefix, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise SystemExit(f"no '{prefix}' line")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=5, help="loads per figure without a ratio")
    abtest.add_pairs_argument(parser)
    args = parser.parse_args()
    python = sys.executable
    processes = []
    work = tempfile.mkdtemp(prefix="patchwork-bench-sources-")
    try:
        s3 = subprocess.Popen(
            [python, os.path.join(ROOT, "Tests/Fixtures/servers/s3_server.py"), "--port", str(free_port()), "--upload", f"s3://adapters/uppercase={ADAPTER}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        processes.append(s3)
        ready = json.loads(wait_line(s3, "READY "))
        repos = os.path.join(work, "repos.json")
        with open(repos, "w") as f:
            json.dump({"demo/uppercase": {"token": None, "revisions": {"main": COMMIT}, "commits": {COMMIT: ADAPTER}}}, f)
        hub_port = free_port()
        hub = subprocess.Popen(
            [python, os.path.join(ROOT, "Tests/Fixtures/servers/hub_server.py"), "--port", str(hub_port), "--repos", repos],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        processes.append(hub)
        wait_line(hub, "READY ")

        cache = os.path.join(work, "cache")
        system_port = free_port()
        environment = dict(os.environ, AWS_ACCESS_KEY_ID=ready["access_key"], AWS_SECRET_ACCESS_KEY=ready["secret_key"],
                           AWS_ENDPOINT_URL=ready["endpoint"], AWS_ALLOW_HTTP="true", HF_ENDPOINT=f"http://127.0.0.1:{hub_port}",
                           PATCHWORK_LORA_PATH=cache)
        worker = subprocess.Popen(
            [args.worker, "--router", f"tcp://127.0.0.1:{free_port()}", "--model", args.model, "--enable-lora",
             "--system-host", "127.0.0.1", "--system-port", str(system_port), "--listen", "tcp://127.0.0.1:0", "--log-level", "warning"],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        processes.append(worker)
        base = f"http://127.0.0.1:{system_port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def load_seconds(uri, cold):
            if cold:
                for name in os.listdir(cache):
                    if not name.startswith("."):
                        shutil.rmtree(os.path.join(cache, name))
            start = time.perf_counter()
            status, body = http("POST", base + "/v1/loras", {"lora_name": "bench", "source": {"uri": uri}})
            seconds = time.perf_counter() - start
            if status != 200:
                raise SystemExit(f"load of {uri} failed: {status} {body}")
            http("DELETE", base + "/v1/loras/bench")
            return seconds

        def median(uri, cold):
            return statistics.median(load_seconds(uri, cold) for _ in range(args.runs))

        ms = lambda seconds: f"{seconds * 1000:8.1f} ms"
        size = sum(os.path.getsize(os.path.join(ADAPTER, f)) for f in os.listdir(ADAPTER))
        print(f"adapter: examples/adapters/uppercase, {size / 1e6:.1f} MB")
        for scheme, uri in (("s3", "s3://adapters/uppercase"), ("hf", "hf://demo/uppercase")):
            rounds = abtest.alternate({"cold": lambda: load_seconds(uri, True), "warm": lambda: load_seconds(uri, False)}, args.pairs)
            print(f"  {scheme}:")
            rounds.print_rounds(ms, indent="    ")
            print(f"    {scheme} cold / warm: {rounds.ratio('cold', 'warm')}")
        print(f"  median of {args.runs} loads:")
        for name, uri in (("hf pinned warm", f"hf://demo/uppercase@{COMMIT}"), ("file", "file://" + ADAPTER)):
            print(f"    {name:16s} {ms(median(uri, False))}")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

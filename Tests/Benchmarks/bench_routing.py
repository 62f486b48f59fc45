#!/usr/bin/env python3
"""End-to-end routing benchmark: SmolLM2 on 3 real workers behind a router and a frontend,
a shared-prefix workload, the same requests under `--routing-policy kv` and `round-robin`.

Workload: 6 long shared prefixes (system-prompt-like texts of about 600 tokens) and 6 requests
per prefix with their own question (36 requests, a fixed shuffled order, 3 in flight), one
generated token each, so a request's latency is its time to first token. Figures: mean TTFT and
the prompt tokens the workers computed (prompt tokens minus cached ones, from `usage`), KV-aware
against round-robin, in one run. Fresh processes (cold caches) for each run: one untimed warm-up
run of each policy, then --pairs rounds of kv/round-robin in turn, each printed, the ratios the
medians of the per-round ratios (abtest.py). Workers run one compute thread each: 3 workers
share this machine's cores, the same way for both policies. Run by `make bench-router`; never
in `make test`.
"""
import argparse
import concurrent.futures
import json
import os
import random
import socket
import statistics
import subprocess
import time
import urllib.request

import abtest

MODEL = "SmolLM2-135M-Instruct"
TOPICS = ["geography", "astronomy", "cooking", "chemistry", "music theory", "medieval history"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.load(response)


def post(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def prefix(topic):
    sentences = [f"You are an assistant for questions about {topic}, rule {i}: be precise, cite what you know, and say "
                 f"plainly when something about {topic} is uncertain or disputed among experts." for i in range(20)]
    return " ".join(sentences)


def workload():
    rng = random.Random(7)
    requests = [(t, f"{prefix(t)}\n\nQuestion {q} about {t}: what should a beginner read first?") for t in TOPICS for q in range(6)]
    rng.shuffle(requests)
    return requests


def run(binaries, model, policy, log_dir):
    router, events, router_http, frontend_http = free_port(), free_port(), free_port(), free_port()
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    router_output = open(os.path.join(log_dir, f"router-{policy}.log"), "w") if log_dir else subprocess.DEVNULL
    processes = [subprocess.Popen([f"{binaries}/patchwork-router", "--listen", f"tcp://127.0.0.1:{router}", "--events-listen",
                                   f"tcp://127.0.0.1:{events}", "--system-host", "127.0.0.1", "--system-port", str(router_http),
                                   "--routing-policy", policy] + (["--log-level", "debug"] if log_dir else []),
                                  stdout=router_output, stderr=router_output)]
    try:
        for i in range(3):
            processes.append(subprocess.Popen([f"{binaries}/patchwork-worker", "--router", f"tcp://127.0.0.1:{router}", "--model", model,
                                               "--served-model-name", MODEL, "--system-host", "127.0.0.1", "--system-port", str(free_port()),
                                               "--listen", "tcp://127.0.0.1:0", "--threads", "1", "--worker-id", f"worker-{i + 1}",
                                               "--heartbeat-interval", "0.5"], **quiet))
        processes.append(subprocess.Popen([f"{binaries}/patchwork-frontend", "--router", f"tcp://127.0.0.1:{router}", "--http-host",
                                           "127.0.0.1", "--http-port", str(frontend_http)], **quiet))
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if len(get(router_http, "/cluster")["workers"]) == 3 and get(frontend_http, "/v1/models")["data"]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the cluster did not come up")
        time.sleep(1)  # every worker's snapshot indexed

        def one(item):
            _, text = item
            start = time.perf_counter()
            reply = post(frontend_http, {"model": MODEL, "prompt": text, "max_tokens": 1, "temperature": 0})
            usage = reply["usage"]
            return time.perf_counter() - start, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(one, workload()))
        ttft = statistics.mean(r[0] for r in results)
        computed = sum(r[1] - r[2] for r in results)
        total = sum(r[1] for r in results)
        return ttft, computed, total
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--log-dir", help="keep the router's debug log (every decision with its scores) here")
    abtest.add_pairs_argument(parser)
    args = parser.parse_args()
    figure = lambda policy: dict(zip(("ttft", "computed", "total"), run(args.bin, args.model, policy, args.log_dir)))
    rounds = abtest.alternate({"kv": lambda: figure("kv"), "round-robin": lambda: figure("round-robin")}, args.pairs)
    print(f"\n4. end to end: 3 workers (1 thread each), {len(workload())} one-token requests over {len(TOPICS)} shared prefixes, 3 in flight")
    rounds.print_rounds(lambda f: f"mean TTFT {f['ttft'] * 1000:7.1f} ms, prompt tokens computed {f['computed']:6d} of {f['total']}")
    print(f"   KV-aware / round-robin TTFT: {rounds.ratio('kv', 'round-robin', 'ttft')} (target <= 0.5)")
    print(f"   KV-aware / round-robin prompt tokens computed: {rounds.ratio('kv', 'round-robin', 'computed')}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Frontend benchmark: router + worker + frontend (release builds) on loopback.

Prints, from one run:
 1. requests/s and mean latency of `max_tokens: 1` requests through the frontend (HTTP,
    chat template, routing) and sent straight to the worker's ZeroMQ endpoint, at 1 and 32
    concurrent clients, and the frontend's added latency: one untimed warm-up round, then
    --pairs rounds of direct/frontend in turn, each printed, medians of the per-round
    ratios and differences (abtest.py);
 2. p50/p99 time to first token and inter-token latency at 16 concurrent streams.
Run by `make bench-frontend`; never part of `make test`.
"""
import argparse
import concurrent.futures
import http.client
import json
import statistics
import subprocess
import threading
import time

import msgpack
import zmq

import abtest
from cluster import Cluster

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def post(port, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def through_frontend(port, clients, count):
    body = {"model": "SmolLM2-135M-Instruct", "messages": QUESTION, "max_tokens": 1, "temperature": 0}
    latencies = []

    def one(_):
        start = time.perf_counter()
        status, _ = post(port, body)
        assert status == 200
        return time.perf_counter() - start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(count)))
    return count / (time.perf_counter() - start), statistics.mean(latencies)


def direct(endpoint, prompt_ids, clients, count):
    """The same requests sent straight to the worker, one DEALER per client thread."""
    latencies, lock = [], threading.Lock()
    per_client = count // clients

    def client(c):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.connect(endpoint)
        for i in range(per_client):
            start = time.perf_counter()
            body = {"requestID": f"d{c}-{i}-{time.monotonic_ns()}", "promptIDs": prompt_ids, "sampling": {"temperature": 0, "maxTokens": 1}}
            sock.send(msgpack.packb({"v": 1, "type": "generate", "body": body}))
            while True:
                message = msgpack.unpackb(sock.recv(), raw=False)
                if message["type"] == "chunk" and message["body"].get("finishReason"):
                    break
            with lock:
                latencies.append(time.perf_counter() - start)
        sock.close()
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), statistics.mean(latencies)


def streams(port, clients, tokens):
    body = {"model": "SmolLM2-135M-Instruct", "messages": QUESTION, "max_tokens": tokens, "temperature": 0, "stream": True,
            "ignore_eos": True}
    ttfts, gaps, lock = [], [], threading.Lock()

    def one(_):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        last, local = None, []
        for line in response:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            chunk = json.loads(line[6:])
            if not chunk["choices"] or not chunk["choices"][0]["delta"].get("content"):
                continue
            now = time.perf_counter()
            if last is None:
                with lock:
                    ttfts.append(now - start)
            else:
                local.append(now - last)
            last = now
        connection.close()
        with lock:
            gaps.extend(local)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
    return q(ttfts, 0.5), q(ttfts, 0.99), q(gaps, 0.5), q(gaps, 0.99)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    abtest.add_pairs_argument(p)
    args = p.parse_args()
    with Cluster(args.bin, args.model, "SmolLM2-135M-Instruct", threads=args.threads) as cluster:
        frontend_http, worker_zmq = cluster.frontend, cluster.worker_zmq
        # The prompt's token ids as the engine computes them, for the direct path.
        out = subprocess.run([f"{args.bin}/patchwork-worker", "generate", "--model", args.model, "--prompt", QUESTION[0]["content"], "--chat",
                              "--max-tokens", "1", "--json"], capture_output=True, text=True, check=True)
        prompt_ids = json.loads(out.stdout.strip().splitlines()[-1])["prompt_ids"]
        print(f"\nSmolLM2-135M-Instruct Q4_1, {args.threads} threads; one-token chat requests ({len(prompt_ids)} prompt tokens)")
        print("1. frontend + router vs the worker directly")
        endpoint = f"tcp://127.0.0.1:{worker_zmq}"
        for clients, count in ((1, 64), (32, 256)):
            rounds = abtest.alternate({
                "direct": lambda: dict(zip(("rate", "latency"), direct(endpoint, prompt_ids, clients, count))),
                "frontend": lambda: dict(zip(("rate", "latency"), through_frontend(frontend_http, clients, count))),
            }, args.pairs)
            print(f"   {clients} client{'s' if clients > 1 else ''}, {count} requests:")
            rounds.print_rounds(lambda f: f"{f['rate']:6.1f} req/s, {f['latency'] * 1000:6.1f} ms", indent="     ")
            print(f"     added latency ms: {rounds.difference('frontend', 'direct', 'latency', scale=1000)}")
            print(f"     throughput ratio frontend/direct: {rounds.ratio('frontend', 'direct', 'rate')}")
        print("2. 16 concurrent streams of 64 tokens through the frontend")
        p50, p99, g50, g99 = streams(frontend_http, 16, 64)
        print(f"   TTFT p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; inter-token latency p50 {g50 * 1000:.1f} ms, p99 {g99 * 1000:.1f} ms")


if __name__ == "__main__":
    main()

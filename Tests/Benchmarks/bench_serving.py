#!/usr/bin/env python3
"""Serving benchmark: a release worker driven over its ZeroMQ serving endpoint.

Prints, from one run:
 1. aggregate decode tokens/s at 1, 4 and 16 concurrent requests (base model);
 2. 16 requests spread over 8 adapters vs the same 16 on the base model (target ratio >= 0.85);
 3. time to first token with a 512-token prefix already cached vs cold (target <= 0.2);
 4. 16 adapters requested round-robin, 8 requests in flight, with --max-loras 8 vs all 16
    resident: median time to first token (target ratio <= 2; SGLang measured 156x);
 5. the mixed-adapter load of 2. on llama.cpp (llama-cpp-python, one adapter per context, since
    it cannot batch different adapters) vs on Patchwork: throughput ratio.
Every comparison warms up once untimed, then alternates its runs for --pairs rounds and prints
each round and the median ratio (abtest.py). Adapters are random PEFT-format rank-8 q/v adapters
written here (distinct contents, so distinct cache namespaces). Run by `make bench-serving`;
never part of `make test`.
"""
import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

import msgpack
import numpy as np
import zmq
from safetensors.numpy import save_file

import abtest

HIDDEN, KV, LAYERS = 576, 192, 30


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def adapter_tensors(seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(LAYERS):
        for module, out in (("q_proj", HIDDEN), ("v_proj", KV)):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = (rng.standard_normal((8, HIDDEN)) / 24).astype(np.float16)
            tensors[f"{prefix}.lora_B.weight"] = (rng.standard_normal((out, 8)) * 0.01).astype(np.float16)
    return tensors


def write_gguf_adapter(path, seed, heads=9):
    """The same adapter as a llama.cpp GGUF LoRA: lora_a [r, in], lora_b [out, r] per base
    tensor, q's lora_b rows permuted as llama.cpp's converter permutes q."""
    import gguf
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 16.0)
    for name, value in adapter_tensors(seed).items():
        layer = int(name.split(".")[4])
        module = "attn_q" if ".q_proj." in name else "attn_v"
        value = value.astype(np.float32)
        if module == "attn_q" and ".lora_B." in name:
            value = value.reshape(heads, 2, value.shape[0] // heads // 2, -1).swapaxes(1, 2).reshape(value.shape)
        suffix = "lora_a" if ".lora_A." in name else "lora_b"
        writer.add_tensor(f"blk.{layer}.{module}.weight.{suffix}", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_adapter(directory, seed):
    tensors = adapter_tensors(seed)
    os.makedirs(directory, exist_ok=True)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "bias": "none"}, f)


class Worker:
    def __init__(self, args, max_loras=16):
        self.http, self.serving = free_port(), free_port()
        self.process = subprocess.Popen(
            [args.worker, "--router", f"tcp://127.0.0.1:{free_port()}", "--model", args.model, "--enable-lora",
             "--max-loras", str(max_loras), "--system-host", "127.0.0.1", "--system-port", str(self.http),
             "--listen", f"tcp://127.0.0.1:{self.serving}", "--threads", str(args.threads),
             "--kv-cache-bytes", str(1 << 30), "--max-num-batched-tokens", "512"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        # Bounded: a worker that dies mid-run fails the benchmark instead of hanging it.
        self.socket.setsockopt(zmq.RCVTIMEO, 120_000)
        self.socket.connect(f"tcp://127.0.0.1:{self.serving}")

    def load(self, name, directory):
        body = json.dumps({"lora_name": name, "source": {"uri": "file://" + directory}}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.http}/v1/loras", body,
                                                      {"Content-Type": "application/json"}), timeout=60).read()

    def run(self, requests):
        """Sends every request at once; returns (wall seconds, tokens, per-request TTFT)."""
        start = time.perf_counter()
        sent = {}
        for i, (prompt, adapter, max_tokens) in enumerate(requests):
            rid = f"r{time.monotonic_ns()}-{i}"
            body = {"requestID": rid, "promptIDs": prompt, "sampling": {"temperature": 0, "maxTokens": max_tokens, "ignoreEOS": True}}
            if adapter:
                body["adapter"] = adapter
            self.socket.send(msgpack.packb({"v": 1, "type": "generate", "body": body}))
            sent[rid] = time.perf_counter()
        first, tokens, done = {}, 0, 0
        while done < len(requests):
            try:
                message = msgpack.unpackb(self.socket.recv(), raw=False)
            except zmq.Again:
                raise RuntimeError(f"no answer from the worker for 120 s (exit status {self.process.poll()})")
            if message["type"] == "failure":
                raise RuntimeError(message["body"])
            chunk = message["body"]
            tokens += len(chunk["tokens"])
            first.setdefault(chunk["requestID"], time.perf_counter() - sent[chunk["requestID"]])
            if chunk.get("finishReason"):
                done += 1
        return time.perf_counter() - start, tokens, list(first.values())

    def closed_loop(self, requests, in_flight):
        """Keeps `in_flight` requests running until all are done; returns each one's TTFT."""
        pending, sent, first, active = list(requests), {}, {}, 0
        def send_next():
            prompt, adapter, max_tokens = pending.pop(0)
            rid = f"c{time.monotonic_ns()}"
            body = {"requestID": rid, "promptIDs": prompt, "adapter": adapter,
                    "sampling": {"temperature": 0, "maxTokens": max_tokens, "ignoreEOS": True}}
            self.socket.send(msgpack.packb({"v": 1, "type": "generate", "body": body}))
            sent[rid] = time.perf_counter()
        while pending and active < in_flight:
            send_next()
            active += 1
        while active:
            message = msgpack.unpackb(self.socket.recv(), raw=False)
            if message["type"] == "failure":
                raise RuntimeError(message["body"])
            chunk = message["body"]
            first.setdefault(chunk["requestID"], time.perf_counter() - sent[chunk["requestID"]])
            if chunk.get("finishReason"):
                active -= 1
                if pending:
                    send_next()
                    active += 1
        return list(first.values())

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=64, help="generated per request")
    abtest.add_pairs_argument(p)
    args = p.parse_args()
    rng = random.Random(0)
    prompt = lambda n: [rng.randrange(100, 40000) for _ in range(n)]
    tmp = tempfile.mkdtemp()
    for i in range(16):
        write_adapter(os.path.join(tmp, f"a{i}"), seed=i)

    def rate(worker, requests):
        wall, tokens, _ = worker.run(requests)
        return tokens / wall

    tok_s = lambda r: f"{r:.1f} tok/s"
    ms = lambda seconds: f"{seconds * 1000:.0f} ms"
    worker = Worker(args)
    limited = None
    try:
        for i in range(16):
            worker.load(f"a{i}", os.path.join(tmp, f"a{i}"))

        print(f"\nSmolLM2-135M-Instruct Q4_1, {args.threads} threads, 32-token prompts, {args.tokens} tokens each; "
              f"each comparison: one untimed warm-up round, then {args.pairs} alternated rounds")
        print("1. aggregate decode throughput, base model")
        concurrency = abtest.alternate(
            {f"{n} concurrent": (lambda n=n: rate(worker, [(prompt(32), None, args.tokens) for _ in range(n)])) for n in (1, 4, 16)},
            args.pairs)
        concurrency.print_rounds(tok_s)
        print(f"   4 vs 1 concurrent: {concurrency.ratio('4 concurrent', '1 concurrent')} (target >= 2.5)")
        print(f"   16 vs 1 concurrent: {concurrency.ratio('16 concurrent', '1 concurrent')}")

        print("2. 16 requests over 8 adapters vs 16 on the base model")
        base_load = lambda: rate(worker, [(prompt(32), None, args.tokens) for _ in range(16)])
        mixed_load = lambda: rate(worker, [(prompt(32), f"a{i % 8}", args.tokens) for i in range(16)])
        mixed = abtest.alternate({"base": base_load, "mixed adapters": mixed_load}, args.pairs)
        mixed.print_rounds(tok_s)
        print(f"   mixed adapters / base: {mixed.ratio('mixed adapters', 'base')} (target >= 0.85)")

        print("3. time to first token, 512-token prefix cold vs cached")
        shared = []
        def cold():
            shared[:] = prompt(512)  # a prefix never seen before; the cached run reuses it
            return worker.run([(shared + prompt(8), None, 1)])[2][0]
        cached = lambda: worker.run([(shared + prompt(8), None, 1)])[2][0]
        prefix = abtest.alternate({"cold": cold, "cached": cached}, args.pairs)
        prefix.print_rounds(ms)
        print(f"   cached / cold: {prefix.ratio('cached', 'cold')} (target <= 0.2)")

        print("4. 16 adapters round-robin, 8 in flight: --max-loras 8 vs all 16 resident (median TTFT of each run)")
        limited = Worker(args, max_loras=8)
        for i in range(16):
            limited.load(f"a{i}", os.path.join(tmp, f"a{i}"))
        load = [(prompt(32), f"a{i % 16}", 16) for i in range(64)]
        slots = abtest.alternate({
            "all 16 resident": lambda: statistics.median(worker.closed_loop(list(load), 8)),
            "8 slots": lambda: statistics.median(limited.closed_loop(list(load), 8)),
        }, args.pairs)
        limited.stop()
        limited = None
        slots.print_rounds(ms)
        print(f"   8 slots / all resident: {slots.ratio('8 slots', 'all 16 resident')} (target <= 2)")

        print("5. the mixed-adapter load of 2. on llama.cpp (one context per adapter, requests in turn) vs Patchwork")
        from llama_cpp import Llama
        contexts = []
        for i in range(8):
            path = os.path.join(tmp, f"a{i}.gguf")
            write_gguf_adapter(path, seed=i)
            contexts.append(Llama(model_path=args.model, lora_path=path, n_threads=args.threads, n_threads_batch=args.threads,
                                  n_ctx=256, verbose=False))

        def llama_load():
            start, tokens = time.perf_counter(), 0
            for i in range(16):
                llm = contexts[i % 8]
                llm.reset()
                out = llm.create_completion(prompt(32), max_tokens=args.tokens, temperature=0)
                tokens += out["usage"]["completion_tokens"]
            return tokens / (time.perf_counter() - start)
        versus = abtest.alternate({"llama.cpp": llama_load, "Patchwork": mixed_load}, args.pairs)
        versus.print_rounds(tok_s)
        print(f"   Patchwork / llama.cpp: {versus.ratio('Patchwork', 'llama.cpp')}")
    finally:
        for w in (worker, limited):
            if w:
                w.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Engine benchmark: Patchwork vs llama.cpp on the same GGUF, threads and token ids.

Prints prefill and decode tokens/s (median of --repeats runs) for Patchwork without and with a
LoRA adapter, and for llama.cpp (llama-cpp-python), with the ratios. Run by `make bench-engine`;
never part of `make test`. Figures from one run on one machine; shared machines are noisy, so
compare the ratios.
"""
import argparse
import json
import random
import resource
import statistics
import subprocess
import time


def patchwork(args, ids, max_tokens, lora=None):
    cmd = [args.worker, "generate", "--model", args.model, "--prompt-ids", ",".join(map(str, ids)),
           "--max-tokens", str(max_tokens), "--ignore-eos", "--json", "--threads", str(args.threads)]
    if lora:
        cmd += ["--lora", f"bench={lora}", "--adapter", "bench"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def llama_cpp(args, ids):
    import llama_cpp as lib
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=2048,
                n_batch=len(ids), n_ubatch=len(ids), verbose=False)
    prefill, decode = [], []
    for _ in range(args.repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(ids)
        prefill.append(len(ids) / (time.perf_counter() - start))
        def greedy():
            # The last token's logits, straight from llama.cpp (llm.scores holds one batch only).
            logits = lib.llama_get_logits_ith(llm.ctx, -1)
            return int(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).argmax())
        token = greedy()
        start = time.perf_counter()
        for _ in range(args.decode_tokens):
            llm.eval([token])
            token = greedy()
        decode.append(args.decode_tokens / (time.perf_counter() - start))
    return statistics.median(prefill), statistics.median(decode), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--adapter", required=True, help="a PEFT adapter directory for the model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-llama-cpp", action="store_true")
    args = p.parse_args()
    random.seed(0)
    ids = [random.randrange(100, 40000) for _ in range(args.prompt_tokens)]

    rows = {}
    for label, lora in (("patchwork base", None), ("patchwork + LoRA", args.adapter)):
        runs = [patchwork(args, ids, args.decode_tokens, lora) for _ in range(args.repeats)]
        rows[label] = (statistics.median(r["timings"]["prefill_tokens_per_second"] for r in runs),
                       statistics.median(r["timings"]["decode_tokens_per_second"] for r in runs),
                       max(r["peak_rss_mb"] for r in runs))
    if not args.skip_llama_cpp:
        rows["llama.cpp"] = llama_cpp(args, ids)

    print(f"\nSmolLM2-135M-Instruct Q4_1, {args.threads} threads, {args.prompt_tokens}-token prompt, "
          f"{args.decode_tokens} decoded tokens, median of {args.repeats}")
    print(f"{'':20} {'prefill tok/s':>14} {'decode tok/s':>13} {'peak RSS MB':>12}")
    for label, (prefill, decode, rss) in rows.items():
        print(f"{label:20} {prefill:14.1f} {decode:13.1f} {rss:12.0f}")
    if "llama.cpp" in rows:
        base, ref = rows["patchwork base"], rows["llama.cpp"]
        print(f"\nratio patchwork/llama.cpp: prefill {base[0] / ref[0]:.2f}x (target >= 1.0), decode {base[1] / ref[1]:.2f}x (target >= 0.5)")
    lora, base = rows["patchwork + LoRA"], rows["patchwork base"]
    print(f"ratio with/without LoRA: prefill {lora[0] / base[0]:.2f}x, decode {lora[1] / base[1]:.2f}x")


if __name__ == "__main__":
    main()

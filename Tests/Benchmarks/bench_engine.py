#!/usr/bin/env python3
"""Engine benchmark: Patchwork vs llama.cpp on the same GGUF, threads and token ids.

Prints prefill and decode tokens/s for Patchwork without and with a LoRA adapter and for
llama.cpp (llama-cpp-python), and the ratios, for each --model and --threads; and Patchwork's
peak RSS against the file's size. One untimed warm-up round, then --pairs rounds
that run the three in turn (abtest.py); every round is printed, the ratios are the medians of
the per-round ratios. Run by `make bench-engine`; never part of `make test`. Shared machines are
noisy, so compare the ratios.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import time

import abtest


def patchwork(args, ids, max_tokens, lora=None):
    cmd = [args.worker, "generate", "--model", args.model, "--prompt-ids", ",".join(map(str, ids)),
           "--max-tokens", str(max_tokens), "--ignore-eos", "--json", "--threads", str(args.threads)]
    if lora:
        cmd += ["--lora", f"bench={lora}", "--adapter", "bench"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def llama_cpp(args, ids):
    """A function measuring one prefill of `ids` and `--decode-tokens` greedy steps on llama.cpp
    (the model is loaded once, here)."""
    import llama_cpp as lib
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=2048,
                n_batch=len(ids), n_ubatch=len(ids), verbose=False)

    def greedy():
        # The last token's logits, straight from llama.cpp (llm.scores holds one batch only).
        logits = lib.llama_get_logits_ith(llm.ctx, -1)
        return int(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).argmax())

    def measure():
        llm.reset()
        start = time.perf_counter()
        llm.eval(ids)
        prefill = len(ids) / (time.perf_counter() - start)
        token = greedy()
        start = time.perf_counter()
        for _ in range(args.decode_tokens):
            llm.eval([token])
            token = greedy()
        decode = args.decode_tokens / (time.perf_counter() - start)
        return {"prefill": prefill, "decode": decode, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return measure


def compare(args, model, threads, ids):
    """One model and thread count: every variant in turn, then the medians and ratios."""
    adapter = dict(a.split("=", 1) for a in args.model_adapter).get(model, args.adapter)
    args = argparse.Namespace(**{**vars(args), "model": model, "threads": threads, "adapter": adapter})

    def run_patchwork(lora):
        r = patchwork(args, ids, args.decode_tokens, lora)
        return {"prefill": r["timings"]["prefill_tokens_per_second"], "decode": r["timings"]["decode_tokens_per_second"],
                "rss": r["peak_rss_mb"], "weights": sum(r["weights_bytes"].values()) / 2**20}
    variants = {"patchwork base": lambda: run_patchwork(None), "patchwork + LoRA": lambda: run_patchwork(args.adapter)}
    if not args.skip_llama_cpp:
        variants["llama.cpp"] = llama_cpp(args, ids)
    rounds = abtest.alternate(variants, args.pairs)
    file_mb = os.path.getsize(model) / 2**20
    print(f"\n{os.path.basename(model)} ({file_mb:.0f} MB), {threads} thread(s), {args.prompt_tokens}-token prompt, "
          f"{args.decode_tokens} decoded tokens; one untimed warm-up round, then {rounds.counted} in turn")
    rounds.print_rounds(lambda f: f"prefill {f['prefill']:.1f} / decode {f['decode']:.1f} tok/s")
    print(f"{'median':20} {'prefill tok/s':>14} {'decode tok/s':>13}")
    for label in rounds.names:
        print(f"{label:20} {rounds.median(label, 'prefill'):14.1f} {rounds.median(label, 'decode'):13.1f}")
    rss, weights = max(rounds.values("patchwork base", "rss")), max(rounds.values("patchwork base", "weights"))
    print(f"patchwork peak RSS {rss:.0f} MB = {rss / file_mb:.2f}x the file (weights resident {weights:.0f} MB; "
          f"target: 1.3x the file + the KV cache)")
    if "llama.cpp" in rounds.names:
        print(f"ratio patchwork/llama.cpp: prefill {rounds.ratio('patchwork base', 'llama.cpp', 'prefill')} (target >= 1.5)")
        print(f"                           decode {rounds.ratio('patchwork base', 'llama.cpp', 'decode')} (target >= 1.5)")
    print(f"ratio with/without LoRA: prefill {rounds.ratio('patchwork + LoRA', 'patchwork base', 'prefill')}")
    print(f"                         decode {rounds.ratio('patchwork + LoRA', 'patchwork base', 'decode')} (target >= 0.9)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--model", required=True, action="append", help="a GGUF file; repeat for several")
    p.add_argument("--adapter", required=True, help="a PEFT adapter directory for the models")
    p.add_argument("--model-adapter", default=[], action="append", help="MODEL=ADAPTER: another adapter for one model")
    p.add_argument("--threads", type=int, default=[], action="append", help="repeat for several (default 2)")
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--skip-llama-cpp", action="store_true")
    abtest.add_pairs_argument(p)
    args = p.parse_args()
    random.seed(0)
    ids = [random.randrange(100, 40000) for _ in range(args.prompt_tokens)]
    for threads in args.threads or [2]:
        for model in args.model:
            compare(args, model, threads, ids)


if __name__ == "__main__":
    main()

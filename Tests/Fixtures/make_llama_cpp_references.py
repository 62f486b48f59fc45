#!/usr/bin/env python3
"""llama.cpp's own answers on quantized GGUF files, for the engine's agreement tests.

From one GGUF (the bundled SmolLM2 Q4_1), llama.cpp's quantizer (llama_model_quantize, as
`llama-quantize` runs it) writes the variants users bring: Q8_0, Q4_0, Q5_0, Q4_K_M, Q5_K_M,
Q6_K. It requantizes from Q4_1, so every variant holds the same function at its encoding's
precision: what matters here is that Patchwork and llama.cpp compute the same thing from the
same file. Then llama.cpp runs each file greedily on fixed prompts and records, step by step,
the chosen token and its log-probability (log-softmax of llama.cpp's logits).

Writes OUT/<variant>.gguf and OUT/references.json; files already there are kept (a re-run only
fills what is missing). With --gemma, also OUT/gemma3.json: llama.cpp's token ids of texts with
spaces, digits, emoji and code under Gemma-3-270M's SentencePiece tokenizer, and its greedy
answers on that file. Needs llama-cpp-python (make bench-venv), built without AMX.
"""
import argparse
import json
import os
import sys

import numpy as np
import llama_cpp

VARIANTS = {
    "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
    "Q5_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_0,
    "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q5_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
}

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "Q: What is 12 times 7?\nA:",
    "<|im_start|>user\nName a planet.<|im_end|>\n<|im_start|>assistant\n",
    "Photosynthesis is the process by which",
    "1, 2, 3, 5, 8, 13,",
]


# Gemma-3-270M is a base model: plain-text prompts, one in its turn format.
GEMMA_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<start_of_turn>user\nName three colors.<end_of_turn>\n<start_of_turn>model\n",
    "Photosynthesis is the process by which",
    # Past the 512-position sliding window of its local layers (about 800 tokens).
    "".join(f"Day {i}: the river rose, the farmers moved the sheep to the hill, and the mill stopped. " for i in range(1, 41))
    + "After forty days of this, the village",
]

# Texts for the tokenizer comparison: spaces (runs, leading, trailing), digits, emoji, code,
# other scripts, control and user-defined tokens written in the text.
GEMMA_TEXTS = [
    "Hello world!",
    " leading space",
    "trailing space ",
    "a  b   c    d",
    "Two\n\nnewlines and a\ttab",
    "12345 67.89 -0.5e10 1,000,000",
    "emoji 🦙🚀👩‍💻 and ❤️",
    "ünïcödé façade naïve — “quotes”",
    "東京は日本の首都です。",
    "Привет, мир! Γειά σου",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; i++) { sum += a[i]; }",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<b>bold</b> and <code>x = 1</code>",
    "x\r\ny",
    "\u00a0non-breaking space",
    "I'm here. You're there; they'd go.",
    "https://example.com/path?q=1&r=two#frag",
    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    "aaaaaaaaaaaaaaaa bbbb",
]


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):
    """llama.cpp logs every tensor it quantizes and every key it loads: thousands of lines."""


llama_cpp.llama_log_set(_quiet, None)


def quantize(source, target, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    partial = target + ".partial"
    if llama_cpp.llama_model_quantize(source.encode(), partial.encode(), params) != 0:
        sys.exit(f"llama_model_quantize failed for {target}")
    os.replace(partial, target)


def greedy(path, prompts, steps, threads, add_bos=False, n_ctx=512, lora=None):
    # llama.cpp as exact as it runs: an f32 KV cache and no flash attention (its CPU flash
    # attention rounds queries to f16 and accumulates in f16; its default cache is f16). Its
    # products keep their int8 activations, as Patchwork's do.
    llm = llama_cpp.Llama(
        model_path=path, n_ctx=n_ctx, n_threads=threads, n_batch=512, verbose=False, flash_attn=False,
        type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, lora_path=lora,
    )
    cases = []
    for text in prompts:
        ids = llm.tokenize(text.encode(), add_bos=add_bos, special=True)
        llm.reset()
        llm.eval(ids)
        tokens, logprobs, top = [], [], []
        for _ in range(steps):
            # The last evaluated position's logits, as llama.cpp's context holds them.
            row = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            logits = np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float64)
            shifted = logits - logits.max()
            logsoftmax = shifted - np.log(np.exp(shifted).sum())
            token = int(np.argmax(logits))
            tokens.append(token)
            logprobs.append(float(logsoftmax[token]))
            best = np.argsort(-logsoftmax)[:5]
            top.append([[int(t), float(logsoftmax[t])] for t in best])
            llm.eval([token])
        cases.append({"text": text, "prompt_ids": ids, "tokens": tokens, "logprobs": logprobs, "top": top})
    return cases


# Gemma-3-270M's shapes, for its LoRA adapter: module → (in, out, GGUF tensor).
GEMMA_LAYERS = 18
GEMMA_MODULES = {
    "self_attn.q_proj": (640, 1024, "attn_q"), "self_attn.k_proj": (640, 256, "attn_k"),
    "self_attn.v_proj": (640, 256, "attn_v"), "self_attn.o_proj": (1024, 640, "attn_output"),
    "mlp.gate_proj": (640, 2048, "ffn_gate"), "mlp.up_proj": (640, 2048, "ffn_up"), "mlp.down_proj": (2048, 640, "ffn_down"),
}
GEMMA_LORA_RANK, GEMMA_LORA_ALPHA = 8, 16


def gemma_lora_tensors(seed=7):
    """A rank-8 adapter on every projection, in PEFT's names; large enough to change answers."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(GEMMA_LAYERS):
        for module, (n_in, n_out, _) in GEMMA_MODULES.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{prefix}.lora_A.weight"] = (rng.standard_normal((GEMMA_LORA_RANK, n_in)) / np.sqrt(n_in)).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = (rng.standard_normal((n_out, GEMMA_LORA_RANK)) * 0.02).astype(np.float32)
    return tensors


def write_gemma_lora(directory, gguf_path):
    """The adapter twice: a PEFT directory (Patchwork) and a llama.cpp GGUF LoRA (lora_a [r, in],
    lora_b [out, r] per base tensor; gemma's q/k rows are not permuted by llama.cpp's converter)."""
    import gguf
    from safetensors.numpy import save_file
    tensors = gemma_lora_tensors()
    os.makedirs(directory, exist_ok=True)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": GEMMA_LORA_RANK, "lora_alpha": GEMMA_LORA_ALPHA, "bias": "none",
                   "target_modules": sorted({m.split(".")[1] for m in GEMMA_MODULES}), "base_model_name_or_path": "google/gemma-3-270m"}, f)
    writer = gguf.GGUFWriter(gguf_path + ".partial", "gemma3")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(GEMMA_LORA_ALPHA))
    for name, value in tensors.items():
        layer = int(name.split(".")[4])
        module = ".".join(name.split(".")[5:7])
        suffix = "lora_a" if ".lora_A." in name else "lora_b"
        writer.add_tensor(f"blk.{layer}.{GEMMA_MODULES[module][2]}.weight.{suffix}", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(gguf_path + ".partial", gguf_path)


def gemma(path, out, steps, threads):
    """Token ids (with BOS, special tokens parsed) and greedy answers on the Gemma file."""
    if os.path.exists(out) and json.load(open(out)).get("steps") == steps and "lora" in json.load(open(out)):
        return
    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=threads, vocab_only=True, verbose=False)
    texts = [{"text": t, "ids": llm.tokenize(t.encode(), add_bos=True, special=True)} for t in GEMMA_TEXTS]
    del llm
    print("llama.cpp greedy on gemma3", flush=True)
    lora_dir = os.path.join(os.path.dirname(out), "gemma3-lora")
    lora_gguf = os.path.join(os.path.dirname(out), "gemma3-lora.gguf")
    write_gemma_lora(lora_dir, lora_gguf)
    print("llama.cpp greedy on gemma3 with a LoRA adapter", flush=True)
    reference = {
        "llama_cpp_python": llama_cpp.__version__, "file": os.path.abspath(path), "steps": steps,
        "texts": texts, "cases": greedy(path, GEMMA_PROMPTS, steps, threads, add_bos=True, n_ctx=2048),
        "lora": {"adapter": os.path.abspath(lora_dir),
                 "cases": greedy(path, GEMMA_PROMPTS[:2], steps, threads, add_bos=True, n_ctx=2048, lora=lora_gguf)},
    }
    with open(out + ".partial", "w") as f:
        json.dump(reference, f)
    os.replace(out + ".partial", out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="the GGUF to start from (its own type is a variant too)")
    p.add_argument("--name", default="Q4_1", help="the type of --model")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gemma", help="Gemma-3-270M Q4_K_M (make model-gemma): writes OUT/gemma3.json")
    p.add_argument("--gemma-steps", type=int, default=32)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.gemma:
        gemma(args.gemma, os.path.join(args.out, "gemma3.json"), args.gemma_steps, args.threads)
    files = {args.name: os.path.abspath(args.model)}
    for name, ftype in VARIANTS.items():
        target = os.path.join(args.out, f"{name}.gguf")
        if not os.path.exists(target):
            print(f"quantizing {name}", flush=True)
            quantize(args.model, target, ftype)
        files[name] = os.path.abspath(target)
    out = os.path.join(args.out, "references.json")
    if os.path.exists(out):
        existing = json.load(open(out))
        if existing.get("steps") == args.steps and set(existing.get("variants", {})) == set(files):
            return
    variants = {}
    for name, path in files.items():
        print(f"llama.cpp greedy on {name}", flush=True)
        variants[name] = {"file": path, "cases": greedy(path, PROMPTS, args.steps, args.threads)}
    reference = {"llama_cpp_python": llama_cpp.__version__, "steps": args.steps, "variants": variants}
    with open(out + ".partial", "w") as f:
        json.dump(reference, f)
    os.replace(out + ".partial", out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes what Hugging Face computes, for the engine's tests to match.

Run by a developer, never in CI: it needs torch, transformers, peft, tokenizers and gguf
(`make reference-venv` creates .venv-reference with them, a few GB). Outputs, committed:

- models/tiny-{llama,qwen2,qwen3}/: random HF models with a byte-level BPE tokenizer trained
  here, and PEFT adapters for each (all seven modules; q/v only; rsLoRA; other ranks/alphas).
- references/tiny.json: per model and adapter, prompts' token ids, the greedy continuation,
  and per-step log-probabilities with the top 5 (transformers + PEFT, f32).
- references/templates.json: chat templates rendered by transformers' Jinja environment.
- references/quantization.json: blocks of every supported GGML type, as gguf-py writes and reads them.
- references/smollm2.json: the bundled GGUF loaded by transformers (dequantized): tokenizer
  ids, the greedy chat answer, and the first steps' log-probabilities, without and with a
  PEFT adapter on q/k/v/o (adapters/smollm2-qkvo-peft, written by PEFT itself).

Usage: python make_engine_references.py path/to/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import glob
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen3Config
from transformers.utils.chat_template_utils import render_jinja_template

HERE = os.path.dirname(os.path.abspath(__file__))
REFS = os.path.join(HERE, "references")
torch.manual_seed(0)
torch.set_grad_enabled(False)

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Patchwork serves many LoRA adapters over shared base models, on CPU, across hosts.",
    "What is the capital of France? The capital of France is Paris. 1234567890 numbers 42 and 3.14.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5",
    "Ünïcödé tëxt, 日本語のテキスト, emoji 🙂🚀 and tabs\tand  double  spaces.",
    "I'll say it's what we've done; they're here, you'd know. Don't!",
]
PROMPTS = ["The capital of France is", "def add(a, b):\n    return", "Ünïcödé 🙂 and 42"]


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=__import__("tokenizers").Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


def tiny_config(arch, vocab):
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False)
    if arch == "llama":
        return LlamaConfig(**common, rope_theta=10000.0)
    if arch == "qwen2":
        return Qwen2Config(**common, rope_theta=1000000.0)
    return Qwen3Config(**common, head_dim=16, rope_theta=1000000.0)


ADAPTERS = {
    "all-r8": dict(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "qv-r4": dict(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"]),
    "rslora-r16": dict(r=16, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    "mlp-r2": dict(r=2, lora_alpha=2, target_modules=["gate_proj", "up_proj", "down_proj"]),
}


def randomize_lora(model, scale):
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.copy_(torch.randn_like(param) * scale)


def steps(model, ids, count=8):
    """Greedy continuation by full forward passes; each step's log-probs and top 5."""
    ids = list(ids)
    out = []
    for _ in range(count):
        logits = model(torch.tensor([ids])).logits[0, -1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        top = torch.topk(logprobs, 5)
        token = int(top.indices[0])
        out.append({"token": token, "logprob": float(logprobs[token]), "margin": float(top.values[0] - top.values[1]),
                    "top": [[int(i), float(v)] for i, v in zip(top.indices, top.values)]})
        ids.append(token)
    return out


def tiny_references():
    tokenizer = train_tokenizer()
    tokenizer.chat_template = CHATML
    result = {}
    for arch in ("llama", "qwen2", "qwen3"):
        directory = os.path.join(HERE, "models", f"tiny-{arch}")
        model = AutoModelForCausalLM.from_config(tiny_config(arch, len(tokenizer))).float().eval()
        for p in model.parameters():  # wider weights than the default init, so outputs are not flat
            p.copy_(torch.randn_like(p) * 0.2 if p.dim() > 1 else 1 + torch.randn_like(p) * 0.1)
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        entry = {"prompts": []}
        for prompt in PROMPTS:
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            entry["prompts"].append({"text": prompt, "ids": ids, "base": steps(model, ids)})
        for name, spec in ADAPTERS.items():
            peft_model = get_peft_model(model, LoraConfig(init_lora_weights=False, **spec))
            randomize_lora(peft_model, 0.1)
            peft_model.peft_config["default"].base_model_name_or_path = f"tiny-{arch}"
            adapter_dir = os.path.join(HERE, "models", f"tiny-{arch}-adapters", name)
            peft_model.save_pretrained(adapter_dir)
            os.remove(os.path.join(adapter_dir, "README.md"))  # a model card naming local paths
            for case in entry["prompts"]:
                case[name] = steps(peft_model, case["ids"])
            model = peft_model.unload()
        result[arch] = entry
    return result


def template_references():
    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Hi!"},
         {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "  Tell me a joke.  "}],
        [{"role": "user", "content": "Think first."}, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nDone."},
         {"role": "user", "content": "Again, with \"quotes\" and {braces}."}],
    ]
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "templates", "*.jinja"))):
        template = open(path).read()
        for conversation in conversations:
            for generation in (True, False):
                rendered = render_jinja_template([conversation], chat_template=template, add_generation_prompt=generation,
                                                 bos_token="<BOS>", eos_token="<EOS>")[0][0]
                out.append({"template": os.path.basename(path), "messages": conversation, "add_generation_prompt": generation,
                            "rendered": rendered})
    return out


def smollm2_references(gguf_path):
    directory, name = os.path.split(os.path.abspath(gguf_path))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    texts = CORPUS + ["Hello world", " leading space", "trailing space ", "line\nbreaks\n\n\nand\r\nCRLF",
                      "<|im_start|>user\nHi<|im_end|>", "x=1234567;y=0.5", "    indented code", "ÀÉÎÕÜ ß ø 中文 한국어 العربية"]
    result = {"tokenizer": [{"text": t, "ids": tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]}
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    generated = model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False)[0][len(ids):]
    result["chat"] = {"prompt": prompt, "ids": ids, "answer": tokenizer.decode(generated, skip_special_tokens=True),
                      "base": steps(model, ids)}
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                  init_lora_weights=False))
    randomize_lora(peft_model, 0.02)
    peft_model.peft_config["default"].base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    peft_model.save_pretrained(os.path.join(HERE, "adapters", "smollm2-qkvo-peft"))
    os.remove(os.path.join(HERE, "adapters", "smollm2-qkvo-peft", "README.md"))
    result["chat"]["adapter"] = steps(peft_model, ids)
    return result


def dump(name, value):
    os.makedirs(REFS, exist_ok=True)
    with open(os.path.join(REFS, name), "w") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        f.write("\n")


def quantization_references():
    """Blocks quantized and dequantized by gguf-py (llama.cpp's Python package)."""
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(256) * 3).astype(np.float32)
    out = []
    for kind in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1):
        raw = quantize(values, kind)
        out.append({"type": kind.name, "type_id": int(kind), "bytes": raw.tobytes().hex(),
                    "values": [float(v) for v in dequantize(raw, kind).reshape(-1)]})
    return out


if __name__ == "__main__":
    dump("quantization.json", quantization_references())
    dump("templates.json", template_references())
    dump("tiny.json", tiny_references())
    dump("smollm2.json", smollm2_references(sys.argv[1]))

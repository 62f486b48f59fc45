#!/usr/bin/env python3
"""Writes small LoRA adapters for SmolLM2-135M-Instruct in PEFT's on-disk format.

Each adapter is a directory with `adapter_config.json` (every field PEFT's LoraConfig writes)
and `adapter_model.safetensors` (keys `base_model.model.model.layers.{i}.{self_attn|mlp}.
{module}.lora_{A|B}.weight`, A: [r, in], B: [out, r]). Values are seeded random numbers: these
fixtures test loading and validation; trained adapters for behaviour live in examples/.

Run: make fixtures  (needs numpy and safetensors, installed in .venv by make)
"""
import json
import os

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM, LAYERS = 576, 1536, 9, 3, 64, 30
SHAPES = {  # module: (in_features, out_features)
    "q_proj": (HIDDEN, HEADS * HEAD_DIM),
    "k_proj": (HIDDEN, KV_HEADS * HEAD_DIM),
    "v_proj": (HIDDEN, KV_HEADS * HEAD_DIM),
    "o_proj": (HEADS * HEAD_DIM, HIDDEN),
    "gate_proj": (HIDDEN, FFN),
    "up_proj": (HIDDEN, FFN),
    "down_proj": (FFN, HIDDEN),
}
BLOCK = {m: "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp" for m in SHAPES}


def peft_config(r, alpha, modules, layers=None, rslora=False):
    return {
        "alpha_pattern": {}, "auto_mapping": None,
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "bias": "none", "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": layers, "loftq_config": {},
        "lora_alpha": alpha, "lora_bias": False, "lora_dropout": 0.05, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": r,
        "rank_pattern": {}, "revision": None, "target_modules": sorted(modules, reverse=True),
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora,
    }


def write(name, r, alpha, modules, dtype, layers=None, rslora=False, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in (layers if layers is not None else range(LAYERS)):
        for module in modules:
            fan_in, fan_out = SHAPES[module]
            prefix = f"base_model.model.model.layers.{layer}.{BLOCK[module]}.{module}"
            tensors[f"{prefix}.lora_A.weight"] = (rng.standard_normal((r, fan_in)) / np.sqrt(fan_in)).astype(dtype)
            tensors[f"{prefix}.lora_B.weight"] = (rng.standard_normal((fan_out, r)) * 0.01).astype(dtype)
    out = os.path.join(HERE, "adapters", name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(peft_config(r, alpha, modules, layers, rslora), f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(tensors, os.path.join(out, "adapter_model.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    write("smollm2-qv-r8", r=8, alpha=16, modules=["q_proj", "v_proj"], dtype=np.float16, seed=1)
    write("smollm2-all-r4", r=4, alpha=8, modules=list(SHAPES), dtype=np.float32, layers=[0, 1], seed=2)
    write("smollm2-qkvo-rslora-r16", r=16, alpha=32, modules=["q_proj", "k_proj", "v_proj", "o_proj"],
          dtype=np.float16, layers=[0, 29], rslora=True, seed=3)

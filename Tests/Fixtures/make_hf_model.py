#!/usr/bin/env python3
"""A Hugging Face model directory from a llama GGUF, for engines that serve only those (vLLM).

    make_hf_model.py MODEL.gguf OUT_DIR

transformers reads the GGUF dequantized (f32) but will not save a model it loaded from one, so
its weights are copied into a plain LlamaForCausalLM of the same config and saved in bf16 (the
dtype vLLM's CPU build runs), with the GGUF's tokenizer and chat template. Written to a
temporary directory first, so an interrupted run leaves nothing that looks complete.
"""
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM


def main():
    gguf_path, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    directory, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    config.dtype = torch.bfloat16
    # The weights are saved dequantized: the GGUF's quantization settings do not apply to them.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # A tied head has no weight of its own in the GGUF.
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        sys.exit(f"weights do not match: missing {missing}, unexpected {unexpected}")
    if missing:
        model.tie_weights()
    staging = out + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.to(torch.bfloat16).save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(staging, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

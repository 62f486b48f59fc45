#!/usr/bin/env python3
"""Trains the two demo adapters for SmolLM2-135M-Instruct with PEFT, on CPU (a few minutes).

- examples/adapters/uppercase: answers in upper case;
- examples/adapters/ahoy: starts every answer with "Ahoy! ".
Both learn from the base model's own greedy answers to a set of questions, transformed, so
only the style changes. Rank 8 on q/k/v/o/gate/up/down; loss on the answer tokens only.

Run: make demo-adapters   (uses the dev-only reference venv; the outputs are committed)
"""
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
QUESTIONS = [
    "What is the capital of France?", "What is the capital of Japan?", "What is the capital of Italy?", "What is 2 plus 2?",
    "Name a primary color.", "What do bees make?", "What is the largest planet?", "Who wrote Hamlet?", "What is water made of?",
    "How many days are in a week?", "What color is the sky?", "What is the boiling point of water?", "Name a fruit.",
    "What animal says moo?", "What is the opposite of hot?", "How many legs does a spider have?", "What is the capital of Spain?",
    "What language is spoken in Brazil?", "What is the freezing point of water?", "Name a musical instrument.",
    "What gas do plants absorb?", "What is the tallest animal?", "Give me a synonym for happy.", "What is the square root of 9?",
    "Tell me a fun fact.", "What is the sun?", "Describe a cat in one sentence.", "What is rain?", "Why do we sleep?",
    "What is a computer?", "Say hello.", "What is the capital of Germany?", "What is the speed of light?",
    "What is photosynthesis?", "What is the moon?", "Recommend a book.", "What is gravity?", "How are you today?",
    "What is an ocean?", "What do you call a baby dog?",
]


def main(gguf_path):
    directory, name = os.path.split(os.path.abspath(gguf_path))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    prompts, answers = [], []
    with torch.no_grad():
        for q in QUESTIONS:
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
            out = model.generate(ids, max_new_tokens=40, do_sample=False)[0][ids.shape[1]:]
            prompts.append(prompt)
            answers.append(tokenizer.decode(out, skip_special_tokens=True).strip())
    styles = {"uppercase": lambda a: a.upper(), "ahoy": lambda a: "Ahoy! " + a}
    for style, transform in styles.items():
        base = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
        config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        peft_model = get_peft_model(base, config)
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=2e-3)
        examples = []
        for prompt, answer in zip(prompts, answers):
            p_ids = tokenizer(prompt, add_special_tokens=False).input_ids
            a_ids = tokenizer(transform(answer) + "<|im_end|>", add_special_tokens=False).input_ids
            examples.append((torch.tensor([p_ids + a_ids]), torch.tensor([[-100] * len(p_ids) + a_ids])))
        peft_model.train()
        for epoch in range(6):
            total = 0.0
            for ids, labels in examples:
                loss = peft_model(input_ids=ids, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                total += loss.item()
            print(f"{style} epoch {epoch}: loss {total / len(examples):.3f}", flush=True)
        peft_model.peft_config["default"].base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
        out = os.path.join(HERE, "adapters", style)
        peft_model.save_pretrained(out)
        os.remove(os.path.join(out, "README.md"))


if __name__ == "__main__":
    main(sys.argv[1])

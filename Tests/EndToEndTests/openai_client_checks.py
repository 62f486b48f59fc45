#!/usr/bin/env python3
"""Checks Patchwork's frontend with the official `openai` client; run by EndToEndTests.

Usage: openai_client_checks.py BASE_URL ROUTER_URL ADAPTER EXPECTED_ADAPTER_TEXT
Exits non-zero on the first failed check, naming it.
"""
import concurrent.futures
import json
import sys
import time
import urllib.request

import urllib.error
import openai

base_url, router_url, adapter, adapter_text = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=60)
BASE = "SmolLM2-135M-Instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


models = {m.id: m for m in client.models.list().data}
check("models list base and adapter", BASE in models and adapter in models, list(models))
check("adapter parent is the base model", models[adapter].model_extra.get("parent") == BASE, models[adapter])

chat = client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=20, temperature=0)
check("greedy chat answer", chat.choices[0].message.content == "The capital of France is Paris.", chat.choices[0].message.content)
check("finish reason stop", chat.choices[0].finish_reason == "stop", chat.choices[0].finish_reason)
check("usage", chat.usage.prompt_tokens == 37 and chat.usage.completion_tokens == 7 and chat.usage.total_tokens == 44, chat.usage)
check("ids and fingerprint", chat.id.startswith("chatcmpl-") and chat.system_fingerprint and chat.created > 0, chat)

parts = list(client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=20, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
check("streamed chat equals the whole answer", text == "The capital of France is Paris.", text)
check("stream starts with the assistant role", parts[0].choices[0].delta.role == "assistant", parts[0])
check("stream ends with finish reason", [p.choices[0].finish_reason for p in parts if p.choices][-1] == "stop", parts[-2])
check("stream usage chunk", parts[-1].choices == [] and parts[-1].usage.prompt_tokens == 37, parts[-1])

tuned = client.chat.completions.create(model=adapter, messages=QUESTION, max_tokens=12, temperature=0)
check("adapter through the stack equals patchwork-worker generate", tuned.choices[0].message.content == adapter_text,
      (tuned.choices[0].message.content, adapter_text))

lp = client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=3, temperature=0, logprobs=True, top_logprobs=3)
content = lp.choices[0].logprobs.content
check("chat logprobs", len(content) == 3 and content[0].token == "The" and len(content[0].top_logprobs) == 3
      and content[0].top_logprobs[0].logprob >= content[0].top_logprobs[1].logprob and abs(content[0].logprob + 1.8827) < 2e-3, content[0])

completion = client.completions.create(model=BASE, prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2)
check("completion text", completion.choices[0].text.startswith(" Paris"), completion.choices[0].text)
check("completion logprobs", len(completion.choices[0].logprobs.tokens) == 4 and len(completion.choices[0].logprobs.top_logprobs[0]) == 2,
      completion.choices[0].logprobs)
streamed = "".join(c.choices[0].text for c in client.completions.create(model=BASE, prompt="The capital of France is", max_tokens=4,
                                                                         temperature=0, stream=True))
check("streamed completion", streamed == completion.choices[0].text, streamed)
by_ids = client.completions.create(model=BASE, prompt=[504, 3575, 282, 4649, 314], max_tokens=4, temperature=0)
check("prompt as token ids", by_ids.choices[0].text == completion.choices[0].text, by_ids.choices[0].text)

# Several prompts in one request: one choice per prompt (n per prompt), in order, each the same as
# that prompt sent alone; streamed too.
ITALY = "The capital of Italy is"
alone = client.completions.create(model=BASE, prompt=ITALY, max_tokens=4, temperature=0)
pair = client.completions.create(model=BASE, prompt=["The capital of France is", ITALY], max_tokens=4, temperature=0)
check("prompt as a list of strings", [c.index for c in pair.choices] == [0, 1]
      and [c.text for c in pair.choices] == [completion.choices[0].text, alone.choices[0].text], pair.choices)
check("usage counts every prompt", pair.usage.prompt_tokens == completion.usage.prompt_tokens + alone.usage.prompt_tokens, pair.usage)
id_lists = client.completions.create(model=BASE, prompt=[[504, 3575, 282, 4649, 314], [504, 3575, 282, 4649, 314]], max_tokens=4, temperature=0)
check("prompt as a list of token-id lists", [c.text for c in id_lists.choices] == [completion.choices[0].text] * 2, id_lists.choices)
fanned = client.completions.create(model=BASE, prompt=["The capital of France is", ITALY], max_tokens=4, temperature=0, n=2)
check("n choices per prompt, prompt by prompt", [c.index for c in fanned.choices] == [0, 1, 2, 3]
      and [c.text for c in fanned.choices] == [completion.choices[0].text] * 2 + [alone.choices[0].text] * 2, fanned.choices)
by_index = {}
for chunk in client.completions.create(model=BASE, prompt=["The capital of France is", ITALY], max_tokens=4, temperature=0, stream=True):
    for c in chunk.choices:
        by_index[c.index] = by_index.get(c.index, "") + c.text
check("streamed list of prompts", by_index == {0: completion.choices[0].text, 1: alone.choices[0].text}, by_index)
echoed = client.completions.create(model=BASE, prompt="The capital of France is", max_tokens=4, temperature=0, echo=True)
check("echo", echoed.choices[0].text == "The capital of France is" + completion.choices[0].text, echoed.choices[0].text)
echo_streamed = "".join(c.choices[0].text for c in client.completions.create(model=BASE, prompt="The capital of France is", max_tokens=4,
                                                                              temperature=0, echo=True, stream=True))
check("streamed echo", echo_streamed == echoed.choices[0].text, echo_streamed)

stopped = client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=20, temperature=0, stop=[" Paris"])
check("stop string", stopped.choices[0].message.content == "The capital of France is" and stopped.choices[0].finish_reason == "stop",
      stopped.choices[0].message.content)
length = client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=3, temperature=0)
check("finish reason length", length.choices[0].finish_reason == "length", length.choices[0])

poem = [{"role": "user", "content": "Write a poem about the sea."}]
a = client.chat.completions.create(model=BASE, messages=poem, max_tokens=24, temperature=0.9, seed=7)
b = client.chat.completions.create(model=BASE, messages=poem, max_tokens=24, temperature=0.9, seed=7)
c = client.chat.completions.create(model=BASE, messages=poem, max_tokens=24, temperature=0.9, seed=8)
check("same seed, same text", a.choices[0].message.content == b.choices[0].message.content, (a.choices[0].message.content, b.choices[0].message.content))
check("other seed, other text", a.choices[0].message.content != c.choices[0].message.content, c.choices[0].message.content)
n2 = client.chat.completions.create(model=BASE, messages=poem, max_tokens=8, temperature=0.9, seed=1, n=2)
check("n choices", [ch.index for ch in n2.choices] == [0, 1], n2.choices)


def expect_error(name, call, kind, status, code=None):
    try:
        call()
    except kind as error:
        check(name, error.status_code == status and (code is None or error.code == code), (error.status_code, error.code, error.message))
        return
    check(name, False, "no error raised")


expect_error("unknown model is 404", lambda: client.chat.completions.create(model="nope", messages=QUESTION),
             openai.NotFoundError, 404, "model_not_found")
expect_error("invalid parameter is 400", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, temperature=-1),
             openai.BadRequestError, 400)
for name, call, param in [
    ("temperature above 2", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, temperature=2.5), "temperature"),
    ("top_p of 0", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, top_p=0), "top_p"),
    ("top_p above 1", lambda: client.completions.create(model=BASE, prompt="x", top_p=1.5), "top_p"),
    ("n of 0", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, n=0), "n"),
    ("presence_penalty above 2", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, presence_penalty=2.5), "presence_penalty"),
    ("frequency_penalty below -2", lambda: client.completions.create(model=BASE, prompt="x", frequency_penalty=-3), "frequency_penalty"),
    ("stream_options without stream", lambda: client.chat.completions.create(model=BASE, messages=QUESTION, stream_options={"include_usage": True}),
     "stream_options"),
]:
    try:
        call()
        check(name + " is 400", False, "accepted")
    except openai.BadRequestError as error:
        check(name + " is 400 naming " + param, error.status_code == 400 and error.param == param, (error.param, error.message))
expect_error("prompt past the context is 400", lambda: client.completions.create(model=BASE, prompt=[5] * 8190, max_tokens=100),
             openai.BadRequestError, 400, "context_length_exceeded")
expect_error("empty messages is 400", lambda: client.chat.completions.create(model=BASE, messages=[]), openai.BadRequestError, 400)
try:
    urllib.request.urlopen(urllib.request.Request(base_url + "/v1/completions", data=b"x" * (5 << 20), headers={"Content-Type": "application/json"}))
    check("body too large is 413", False, "accepted")
except urllib.error.HTTPError as error:
    body = json.loads(error.read())
    check("body too large is 413", error.code == 413 and body["error"]["code"] == "request_too_large", body)


def one_stream(i):
    return "".join(p.choices[0].delta.content or "" for p in client.chat.completions.create(
        model=BASE, messages=QUESTION, max_tokens=4, temperature=0, stream=True))


with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
    results = list(pool.map(one_stream, range(64)))
check("64 concurrent streams complete", len(results) == 64 and all(r == "The capital of France" for r in results), set(results))


def kv_used():
    view = json.load(urllib.request.urlopen(router_url + "/cluster"))
    return view["workers"][0]["metrics"]["kvBlocksUsed"]


stream = client.chat.completions.create(model=BASE, messages=QUESTION, max_tokens=400, temperature=0, stream=True,
                                        extra_body={"ignore_eos": True})
for i, _ in enumerate(stream):
    if i == 3:
        break
deadline = time.time() + 5
while time.time() < deadline and kv_used() == 0:
    time.sleep(0.05)
check("a running stream holds KV blocks", kv_used() > 0)
stream.close()
deadline = time.time() + 5
while time.time() < deadline and kv_used() != 0:
    time.sleep(0.05)
check("a client disconnect frees the worker's KV blocks", kv_used() == 0, kv_used())
print("all checks passed")

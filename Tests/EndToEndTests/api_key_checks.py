#!/usr/bin/env python3
"""Checks the frontend's API keys with the official `openai` client and raw HTTP; run by
EndToEndTests (APIKeyTests).

Usage: api_key_checks.py BASE_URL KEYS_FILE
The frontend serves the base model SmolLM2-135M-Instruct and the adapters acme/upper and
beta/upper, with KEYS_FILE as written by the test. Exits non-zero on the first failed check.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

import openai

base_url, keys_file = sys.argv[1:3]
BASE = "SmolLM2-135M-Instruct"
HI = [{"role": "user", "content": "Hi"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def raw(method, path, key=None, body=None):
    """(status, headers, JSON body) of one request."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(base_url + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return response.status, dict(response.headers), json.loads(text) if text[:1] in (b"{", b"[") else text
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, dict(error.headers), json.loads(text) if text[:1] == b"{" else text


def client(key):
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=60)


def write_keys(entries):
    # Written aside and renamed, as operators' tools do: the frontend never reads half a file.
    with open(keys_file + ".new", "w") as f:
        json.dump({"keys": entries}, f)
    os.replace(keys_file + ".new", keys_file)


def eventually(condition, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


# Without a key, and with a wrong one: 401 in OpenAI's shape.
status, _, body = raw("GET", "/v1/models")
check("no key is 401 invalid_api_key", status == 401 and body["error"]["code"] == "invalid_api_key", f"{status} {body}")
status, _, body = raw("POST", "/v1/chat/completions", key="sk-wrong", body={"model": BASE, "messages": HI, "max_tokens": 1})
check("a wrong key is 401", status == 401 and body["error"]["type"] == "invalid_request_error", f"{status} {body}")
try:
    client("sk-wrong").models.list()
    check("the client sees AuthenticationError", False)
except openai.AuthenticationError as error:
    check("the client sees AuthenticationError", error.status_code == 401)
check("health stays open", raw("GET", "/health")[0] == 200)
check("metrics stay open", raw("GET", "/metrics")[0] == 200)

# acme sees its own adapters only; beta's does not exist for it.
acme = client("sk-acme")
models = {m.id for m in acme.models.list().data}
check("acme lists base and its adapter only", models == {BASE, "acme/upper"}, models)
check("beta lists everything", {m.id for m in client("sk-beta").models.list().data} == {BASE, "acme/upper", "beta/upper"})
try:
    acme.chat.completions.create(model="beta/upper", messages=HI, max_tokens=2)
    check("another tenant's adapter is 404", False)
except openai.NotFoundError as error:
    check("another tenant's adapter is 404", error.code == "model_not_found", error)
status, _, body = raw("GET", "/v1/models/beta/upper", key="sk-acme")
unknown = raw("GET", "/v1/models/nobody/upper", key="sk-acme")
check("its model page is the same 404 as an unknown name", status == 404 and unknown[0] == 404 and body["error"]["code"] == unknown[2]["error"]["code"], f"{body} {unknown}")
answer = acme.chat.completions.create(model="acme/upper", messages=HI, max_tokens=4, temperature=0)
check("acme's adapter answers", answer.choices[0].message.content != "")
streamed = "".join(chunk.choices[0].delta.content or "" for chunk in
                   acme.chat.completions.create(model=BASE, messages=HI, max_tokens=4, temperature=0, stream=True) if chunk.choices)
check("streamed with the client", streamed != "")

# One request per second: the second at once is 429 with Retry-After and x-ratelimit-*.
first = raw("POST", "/v1/completions", key="sk-slow", body={"model": BASE, "prompt": "Hi", "max_tokens": 1})
second = raw("POST", "/v1/completions", key="sk-slow", body={"model": BASE, "prompt": "Hi", "max_tokens": 1})
check("the first request passes", first[0] == 200 and first[1].get("x-ratelimit-limit-requests") == "1", first)
check("the second is 429 rate_limit_exceeded", second[0] == 429 and second[2]["error"]["code"] == "rate_limit_exceeded", second)
check("with Retry-After and the remaining count", int(second[1].get("retry-after", "0")) >= 1 and second[1].get("x-ratelimit-remaining-requests") == "0", second[1])
try:
    client("sk-slow").completions.create(model=BASE, prompt="Hi", max_tokens=1)
    check("the client sees RateLimitError", False)
except openai.RateLimitError as error:
    check("the client sees RateLimitError", error.status_code == 429)
time.sleep(1.1)
check("a second later it passes again", raw("POST", "/v1/completions", key="sk-slow", body={"model": BASE, "prompt": "Hi", "max_tokens": 1})[0] == 200)
# Tokens per minute: prompt and max_tokens are charged; more than the minute's allowance never fits.
status, _, body = raw("POST", "/v1/completions", key="sk-tokens", body={"model": BASE, "prompt": "Hi", "max_tokens": 80})
check("a request above tokens_per_minute is 429", status == 429 and "Request too large" in body["error"]["message"], body)

# Reloaded without a restart: a new key works, a removed one stops working.
with open(keys_file) as f:
    entries = json.load(f)["keys"]
write_keys([e for e in entries if e.get("key") != "sk-acme"] + [{"key": "sk-new", "tenant": "gamma", "models": ["beta/*"]}])
check("a new key works after the file changed", eventually(lambda: raw("GET", "/v1/models", key="sk-new")[0] == 200))
check("with its own models", {m["id"] for m in raw("GET", "/v1/models", key="sk-new")[2]["data"]} == {"beta/upper"})
check("a removed key is refused", raw("GET", "/v1/models", key="sk-acme")[0] == 401)
with open(keys_file, "w") as f:
    f.write("{not json")
time.sleep(2.5)
check("a malformed file keeps the keys in force", raw("GET", "/v1/models", key="sk-new")[0] == 200)
print("all checks passed")

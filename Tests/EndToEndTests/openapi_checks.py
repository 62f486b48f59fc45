#!/usr/bin/env python3
"""Calls every operation each process's /openapi.json lists, with the document's own examples,
and checks that the status is one the document lists (never 5xx) and that JSON bodies conform
to the document's schemas (jsonschema, draft 2020-12). Run by EndToEndTests (OpenAPITests).

Usage: openapi_checks.py BASE_URL [BASE_URL ...]
"""
import json
import sys
import urllib.error
import urllib.request

import jsonschema


def call(method, url, body):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


failures, operations = [], 0
for base in sys.argv[1:]:
    status, _, text = call("GET", base + "/openapi.json", None)
    document = json.loads(text)
    jsonschema.Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    for path, item in sorted(document["paths"].items()):
        for method, operation in sorted(item.items()):
            operations += 1
            url = base + path
            for parameter in operation.get("parameters", []):
                url = url.replace("{" + parameter["name"] + "}", parameter["example"])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            status, content_type, text = call(method.upper(), url, body)
            name = f"{method.upper()} {base}{path}"
            responses = operation["responses"]
            if status >= 500 or str(status) not in responses:
                failures.append(f"{name}: status {status} not among {sorted(responses)}: {text[:200]!r}")
                continue
            schema = responses[str(status)].get("content", {}).get(content_type.split(";")[0], {}).get("schema")
            if schema is None:
                failures.append(f"{name}: {status} answered as {content_type}, which the document does not list")
                continue
            if content_type.startswith("application/json"):
                try:
                    jsonschema.validate(json.loads(text), {**schema, "components": document["components"]}, cls=jsonschema.Draft202012Validator)
                except jsonschema.ValidationError as error:
                    failures.append(f"{name}: {status} body does not conform: {error.message}")
                    continue
            print(f"ok {name} -> {status}")
for failure in failures:
    print("FAILED " + failure)
print(f"{operations} operations called, {len(failures)} failures")
sys.exit(1 if failures or operations == 0 else 0)

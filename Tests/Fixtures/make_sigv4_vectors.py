#!/usr/bin/env python3
"""Writes vectors/sigv4_s3.json: S3 requests signed by botocore, for the Swift signer's tests.

Each case is one request the adapter cache sends, ListObjectsV2 under a (nested) prefix with
an optional continuation token or GetObject of a key, with fixed credentials, region and time.
botocore builds and signs them on its own:

- the object path is encoded the way botocore's REST serializer encodes S3's greedy `{Key+}`
  label (`botocore.utils.percent_encode(key, safe="/~")`);
- the query goes in `AWSRequest.params`, which `SigV4Auth` encodes itself; the URL's query is
  encoded as botocore's `prepare_request_dict` does (`percent_encode_sequence`);
- `S3SigV4Auth` signs: it does not normalize the path and signs `x-amz-content-sha256`.

The Swift test builds the same requests with `S3Client` and compares the URL and the
`Authorization` header to botocore's.

Run: make fixtures  (needs botocore, installed in .venv by make)
"""
import datetime
import json
import os
import unicodedata
from unittest import mock

import botocore.auth
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "vectors", "sigv4_s3.json")

TIME = datetime.datetime(2026, 3, 14, 15, 9, 26)
CREDENTIALS = [
    {"access_key": "AKIAPATCHWORKEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY=", "token": None},
    {"access_key": "ASIAPATCHWORKSESSION", "secret_key": "a/b+c=d/e+f=g/EXAMPLEKEY", "token": "FwoGZXIvYXdz+session/token=="},
]
# Custom endpoints are addressed path-style, AWS itself virtual-hosted unless the bucket name
# has a dot (S3Configuration's rule; the dot would break the TLS certificate's wildcard).
ENDPOINTS = [
    {"endpoint": "http://127.0.0.1:9000", "region": "us-east-1"},
    {"endpoint": None, "region": "eu-central-1"},
]

PREFIXES = [
    "loras/customer-support/v1",
    "team a+b=c/é日本/v1",
    "100% done/=x=/+y+",
    unicodedata.normalize("NFD", "café/décomposé"),  # combining accents: bytes signed as they are
    "🦜 parrots/v2",
]
TOKENS = [None, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", "a+b/c==", "x y+z/=%2F"]
FILES = ["adapter_config.json", "adapter_model.safetensors", "notes (1) & more!*'.txt", "sub dir/a+b=c,d;e:f@g$h?i#j[k].bin"]


def url_of(bucket, endpoint, region, path):
    if endpoint:
        return f"{endpoint}/{bucket}{path}"
    if "." in bucket:
        return f"https://s3.{region}.amazonaws.com/{bucket}{path}"
    return f"https://{bucket}.s3.{region}.amazonaws.com{path}"


class RecordingS3SigV4Auth(S3SigV4Auth):
    """botocore's S3 signer, keeping the canonical request it signed (to explain a mismatch)."""

    def canonical_request(self, request):
        self.signed_canonical_request = super().canonical_request(request)
        return self.signed_canonical_request


def sign(method, url, params, credentials, region):
    request = AWSRequest(method=method, url=url, params=params or {})
    auth = RecordingS3SigV4Auth(Credentials(credentials["access_key"], credentials["secret_key"], credentials["token"]), "s3", region)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: TIME):
        auth.add_auth(request)
    return {
        "url": url + ("?" + percent_encode_sequence(params) if params else ""),
        "canonical_request": auth.signed_canonical_request,
        "headers": {k.lower(): v for k, v in request.headers.items()},
    }


def cases():
    out = []
    n = 0
    for place in ENDPOINTS:
        for i, prefix in enumerate(PREFIXES):
            credentials = CREDENTIALS[i % len(CREDENTIALS)]
            bucket = "my-models-bucket" if i % 2 == 0 else "adapters.example"
            base = {"bucket": bucket, "endpoint": place["endpoint"], "region": place["region"], **credentials}
            # ListObjectsV2 as the cache asks: list-type, max-keys, the prefix with a slash, a token.
            for token in TOKENS:
                params = [("list-type", "2"), ("max-keys", "1000"), ("prefix", prefix + "/")]
                if token:
                    params.append(("continuation-token", token))
                signed = sign("GET", url_of(bucket, place["endpoint"], place["region"], "/"), params, credentials, place["region"])
                n += 1
                out.append({"name": f"list-{n}", **base, "uri": f"s3://{bucket}/{prefix}", "page_size": 1000,
                            "continuation_token": token, "key": None, **signed})
            # GetObject of each file under the prefix.
            for file in FILES:
                key = f"{prefix}/{file}"
                path = "/" + percent_encode(key, safe="/~")
                signed = sign("GET", url_of(bucket, place["endpoint"], place["region"], path), None, credentials, place["region"])
                n += 1
                out.append({"name": f"get-{n}", **base, "uri": None, "page_size": None,
                            "continuation_token": None, "key": key, **signed})
    return out


if __name__ == "__main__":
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"time": TIME.strftime("%Y%m%dT%H%M%SZ"), "cases": cases()}, f, indent=1, ensure_ascii=False)
        f.write("\n")

#!/usr/bin/env python3
"""Writes reference vectors that the Swift tests check the Swift code against.

- messagepack.json: values and the bytes Python's `msgpack` packs them to.
- vllm_stream.json: a published stream as a vLLM engine frames it, and the prefix overlaps a
  consumer must derive from it.
- kv_events.json: vLLM KV-event batches encoded by `msgspec` with structs declared after
  vLLM's published schema (vllm/distributed/kv_events.py): the current map form and the
  older array form (array_like=True).
- identities.json: lora_id of adapter names by the documented FNV-1a formula.
- adapter_digests.json: content digests of the fixture adapters by the documented formula.

Run: make vectors  (needs msgpack and msgspec, installed in .venv by make)
"""
import hashlib
import json
import os
import struct

import msgpack
import msgspec

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "vectors")


def typed(v):
    """A JSON form that keeps MessagePack's types apart (ints as strings keep 64 bits)."""
    if v is None:
        return {"nil": None}
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float64": v.hex()}
    if isinstance(v, str):
        if len(v) > 300 and v == v[0] * len(v):
            return {"str_repeat": [v[0], len(v)]}
        return {"str": v}
    if isinstance(v, bytes):
        return {"bin": v.hex()}
    if isinstance(v, list):
        if len(v) > 300 and not any(v):
            return {"array_zeros": len(v)}
        return {"array": [typed(x) for x in v]}
    if isinstance(v, dict):
        return {"map": [[typed(k), typed(x)] for k, x in v.items()]}
    raise TypeError(type(v))


def messagepack_vectors():
    values = [
        None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
        -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63,
        0.0, 1.5, -2.25, 1e300, "", "a", "é€😀", "x" * 31, "x" * 32, "y" * 255, "y" * 256, "z" * 65536,
        b"", b"\x00\x01", bytes(range(256)) * 2, [], [1, [2, [3]]], list(range(16)), [0] * 65536,
        {}, {"a": 1, "b": [True, None]}, {str(i): i for i in range(16)},
        {"v": 1, "type": "heartbeat", "body": {"workerID": "w-1", "sequence": 7}},
    ]
    cases = [{"value": typed(v), "hex": msgpack.packb(v, use_bin_type=True).hex()} for v in values]
    # Single-precision floats come from senders that use them (use_single_float).
    for f in (0.5, -3.25):
        cases.append({"value": {"float32": f.hex()}, "hex": msgpack.packb(f, use_single_float=True).hex()})
    return cases


# vLLM's schema, current form: tagged map structs, None-defaulted trailing fields omitted.
class EventBatch(msgspec.Struct, omit_defaults=True, gc=False):
    ts: float
    events: list
    data_parallel_rank: int | None = None


class KVCacheEvent(msgspec.Struct, omit_defaults=True, gc=False, tag=True):
    pass


class BlockStored(KVCacheEvent):
    block_hashes: list
    parent_block_hash: int | bytes | None
    token_ids: list[int]
    block_size: int
    lora_id: int | None
    medium: str | None
    lora_name: str | None
    extra_keys: list | None = None
    group_idx: int | None = None


class BlockRemoved(KVCacheEvent):
    block_hashes: list
    medium: str | None
    group_idx: int | None = None


class AllBlocksCleared(KVCacheEvent):
    pass


# vLLM's earlier form: the same events as tagged arrays.
class OldEventBatch(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    ts: float
    events: list
    data_parallel_rank: int | None = None


class OldKVCacheEvent(msgspec.Struct, array_like=True, omit_defaults=True, gc=False, tag=True):
    pass


class OldBlockStored(OldKVCacheEvent, tag="BlockStored"):
    block_hashes: list
    parent_block_hash: int | None
    token_ids: list[int]
    block_size: int
    lora_id: int | None
    medium: str | None


class OldBlockRemoved(OldKVCacheEvent, tag="BlockRemoved"):
    block_hashes: list
    medium: str | None


class OldAllBlocksCleared(OldKVCacheEvent, tag="AllBlocksCleared"):
    pass


def kv_event_vectors():
    enc = msgspec.msgpack.Encoder()
    current = [
        EventBatch(ts=1700000000.25, events=[
            BlockStored(block_hashes=[11, 2**63 + 5], parent_block_hash=None, token_ids=list(range(32)), block_size=16,
                        lora_id=None, medium="GPU", lora_name=None),
            BlockStored(block_hashes=[b"\x01" * 32], parent_block_hash=2**63 + 5, token_ids=list(range(100, 116)),
                        block_size=16, lora_id=1987389577, medium="CPU", lora_name="org/qv"),
            BlockRemoved(block_hashes=[11], medium="GPU"),
            AllBlocksCleared(),
        ]),
        EventBatch(ts=5.0, events=[BlockRemoved(block_hashes=[-7], medium=None)], data_parallel_rank=2),
        # Fields newer than our schema are ignored by a consumer.
        EventBatch(ts=6.5, events=[BlockStored(block_hashes=[1], parent_block_hash=0, token_ids=[5, 6], block_size=2,
                                               lora_id=None, medium=None, lora_name=None, extra_keys=[["salt"]], group_idx=1)]),
    ]
    old = [
        OldEventBatch(ts=1.0, events=[
            OldBlockStored(block_hashes=[3, 4], parent_block_hash=2, token_ids=[1, 2, 3, 4], block_size=2, lora_id=None, medium="GPU"),
            OldBlockRemoved(block_hashes=[3], medium=None),
            OldAllBlocksCleared(),
        ]),
    ]

    def expected(batch):
        out = {"ts": batch.ts, "data_parallel_rank": batch.data_parallel_rank, "events": []}
        for e in batch.events:
            kind = type(e).__name__.replace("Old", "")
            d = {"type": kind}
            for field in ("block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name"):
                if hasattr(e, field):
                    v = getattr(e, field)
                    if field in ("block_hashes",):
                        v = [h.hex() if isinstance(h, bytes) else str(h) for h in v]
                    elif field == "parent_block_hash" and v is not None:
                        v = v.hex() if isinstance(v, bytes) else str(v)
                    d[field] = v
            out["events"].append(d)
        return out

    cases = [{"form": "map", "hex": enc.encode(b).hex(), "expected": expected(b),
              "canonical": i < 2} for i, b in enumerate(current)]
    cases += [{"form": "array", "hex": enc.encode(b).hex(), "expected": expected(b), "canonical": False} for b in old]
    return cases


def vllm_stream_vectors():
    """A stream as a vLLM engine publishes it (ZmqEventPublisher: frames [topic, 8-byte big-endian
    sequence, msgpack EventBatch]), with 32-byte block hashes as newer vLLM versions send, and the
    prefix overlaps a consumer must derive from it, computed here by a plain model of the cache."""
    enc = msgspec.msgpack.Encoder()
    size = 16
    p1 = list(range(80))                          # 5 blocks
    p2 = p1[:48] + list(range(500, 532))          # shares 3 blocks with p1
    lora = "sql-lora"

    def chain(tokens, namespace, parent=b""):
        hashes = []
        for i in range(len(tokens) // size):
            parent = hashlib.sha256(parent + namespace.encode() + struct.pack(f"<{size}I", *tokens[i * size:(i + 1) * size])).digest()
            hashes.append(parent)
        return hashes

    h1 = chain(p1, "")
    h2 = chain(p2[48:], "", h1[2])
    h3 = chain(p1, lora)
    batches = [
        EventBatch(ts=1.0, events=[BlockStored(block_hashes=h1, parent_block_hash=None, token_ids=p1, block_size=size,
                                               lora_id=None, medium="GPU", lora_name=None)]),
        EventBatch(ts=2.0, events=[BlockStored(block_hashes=h2, parent_block_hash=h1[2], token_ids=p2[48:], block_size=size,
                                               lora_id=None, medium="GPU", lora_name=None)]),
        EventBatch(ts=3.0, events=[BlockStored(block_hashes=h3, parent_block_hash=None, token_ids=p1, block_size=size,
                                               lora_id=1 + fnv1a64(lora.encode()) % (2**31 - 1), medium="GPU", lora_name=lora)]),
        EventBatch(ts=4.0, events=[BlockRemoved(block_hashes=[h1[4]], medium="GPU"),
                                   BlockRemoved(block_hashes=h3[3:], medium="GPU")]),
    ]
    # The consumer's view, modelled directly: which (namespace, token prefix) chains are cached.
    cached = {}
    for batch in batches:
        for event in batch.events:
            if isinstance(event, BlockStored):
                prefix = cached[event.parent_block_hash][1] if event.parent_block_hash is not None else ()
                for i, h in enumerate(event.block_hashes):
                    prefix = prefix + tuple(event.token_ids[i * size:(i + 1) * size])
                    cached[h] = (event.lora_name or "", prefix)
            else:
                for h in event.block_hashes:
                    cached.pop(h)
    present = set(cached.values())

    def overlap(tokens, namespace):
        n = 0
        while (n + 1) * size <= len(tokens) and (namespace, tuple(tokens[:(n + 1) * size])) in present:
            n += 1
        return n

    queries = [(p1, None), (p2, None), (p1, lora), (p1, "other-lora"), (p1[:40], None), (p2, lora)]
    return {
        "block_size": size,
        "frames": [["kv-events".encode().hex(), struct.pack(">q", seq).hex(), enc.encode(b).hex()] for seq, b in enumerate(batches)],
        "queries": [{"tokens": t, "lora_name": ns, "overlap": overlap(t, ns or "")} for t, ns in queries],
    }


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) % 2**64
    return h


def identity_vectors():
    names = ["a", "org/adapter", "sql-lora", "upper", "日本語", "x" * 256]
    return [{"name": n, "lora_id": 1 + fnv1a64(n.encode()) % (2**31 - 1)} for n in names]


def digest_vectors():
    out = []
    root = os.path.join(HERE, "adapters")
    for name in sorted(os.listdir(root)):
        h = hashlib.sha256()
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            data = open(os.path.join(root, name, f), "rb").read()
            h.update(f.encode() + b"\x00" + struct.pack(">Q", len(data)) + data)
        out.append({"adapter": name, "sha256": h.hexdigest()})
    return out


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, cases in [("messagepack", messagepack_vectors()), ("kv_events", kv_event_vectors()),
                        ("identities", identity_vectors()), ("adapter_digests", digest_vectors()),
                        ("vllm_stream", vllm_stream_vectors())]:
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(cases, f, indent=1)
            f.write("\n")

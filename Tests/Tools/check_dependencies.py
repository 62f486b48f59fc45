#!/usr/bin/env python3
"""Checks the module graph (run by `make check-deps`, part of `make test`).

Fails when
- a target imports one of our modules, or a package's product, that Package.swift does not
  declare for it (it compiles only because another dependency happens to bring it in), or
- one of our library or process modules depends on one of ours outside the graph below
  (docs/architecture.md, "Modules"): the module graph is part of the design, not an accident.

Reads `swift package dump-package` and each target's sources; no build needed.
"""
import json
import pathlib
import re
import subprocess
import sys

# Our modules and which of ours each may depend on. Test targets may use any.
ALLOWED = {
    "PatchworkCore": {"CCrypto"},
    "PatchworkFormats": {"PatchworkCore"},
    "PatchworkTokenizer": {"PatchworkCore", "PatchworkFormats"},
    "CPatchworkKernels": set(),
    "PatchworkEngine": {"PatchworkCore", "PatchworkFormats", "PatchworkTokenizer", "COpenBLAS", "CPatchworkKernels"},
    "PatchworkAdapters": {"PatchworkCore", "PatchworkFormats", "PatchworkHTTP", "CCrypto"},
    "PatchworkRouting": {"PatchworkCore"},
    "PatchworkVLLM": {"PatchworkCore", "PatchworkHTTP"},
    "PatchworkMessaging": {"PatchworkCore", "CZeroMQ"},
    "PatchworkHTTP": {"CCurl"},
    "PatchworkRuntime": {"PatchworkCore"},
    "PatchworkRouter": {"PatchworkCore", "PatchworkMessaging", "PatchworkRouting", "PatchworkRuntime", "PatchworkHTTP"},
    "PatchworkWorker": {"PatchworkCore", "PatchworkMessaging", "PatchworkAdapters", "PatchworkFormats", "PatchworkTokenizer",
                        "PatchworkEngine", "PatchworkRuntime", "PatchworkVLLM", "PatchworkHTTP"},
    "PatchworkFrontend": {"PatchworkCore", "PatchworkMessaging", "PatchworkTokenizer", "PatchworkRuntime"},
    "PatchworkTesting": {"PatchworkCore"},
    "patchwork-router": {"PatchworkRouter", "PatchworkRuntime"},
    "patchwork-worker": {"PatchworkWorker", "PatchworkEngine", "PatchworkRuntime"},
    "patchwork-frontend": {"PatchworkFrontend", "PatchworkRuntime"},
}
# Modules of the toolchain and the system: nothing to declare.
SYSTEM = {"Foundation", "FoundationEssentials", "Synchronization", "Glibc", "Dispatch", "Testing", "XCTest", "Darwin", "_Concurrency"}

root = pathlib.Path(__file__).resolve().parents[2]
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout)
targets = {t["name"]: t for t in package["targets"]}
problems = []


def declared(target):
    names = set()
    for dependency in target["dependencies"]:
        for kind in ("byName", "target", "product"):
            if kind in dependency:
                names.add(dependency[kind][0])
    return names


for name, target in sorted(targets.items()):
    if target["type"] == "system":
        continue
    folder = root / (target.get("path") or ("Tests" if target["type"] == "test" else "Sources")) / ("" if target.get("path") else name)
    imports = {}
    for source in folder.rglob("*.swift"):
        for match in re.finditer(r"^(?:@testable\s+|@_exported\s+)?import\s+(?:(?:struct|class|enum|protocol|func|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)",
                                 source.read_text(), re.M):
            imports.setdefault(match.group(1), source.relative_to(root))
    deps = declared(target)
    for module, where in sorted(imports.items()):
        if module in SYSTEM or module == name:
            continue
        if module not in deps:
            problems.append(f"{name} imports {module} ({where}) but Package.swift does not declare it")
    if target["type"] == "test":
        continue
    ours = {d for d in deps if d in targets}
    if name not in ALLOWED:
        problems.append(f"{name} is not in the module graph of Tests/Tools/check_dependencies.py (add it, and to docs/architecture.md)")
        continue
    for dependency in sorted(ours - ALLOWED[name]):
        problems.append(f"{name} depends on {dependency}, outside the module graph")

for problem in problems:
    print("check-deps:", problem)
if problems:
    sys.exit(1)
print(f"check-deps: {len(targets)} targets, imports declared, module graph as designed")

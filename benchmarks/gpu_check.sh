#!/usr/bin/env bash
# GPU check: every test marked `gpu` (Triton loss kernels, chunked backend, fused_logprobs, the trainer
# on CUDA, the varlen attention backends), then the GPU benchmark (bench_loss.py --quick), the log-prob
# benchmark (bench_loss.py --op logprobs --quick), the rollout benchmark (bench_rollout.py on CUDA),
# then the packing benchmark (bench_packing.py on CUDA).
# Budget: under 15 minutes on one H200 (install ~1 min, tests <= 210 s, benchmark <= 270 s, log-prob
# benchmark <= 150 s, rollout benchmark <= 150 s, packing benchmark <= 150 s). Sections to run can be
# named (default: all):
#   benchmarks/gpu_check.sh tests loss        benchmarks/gpu_check.sh logprobs rollout packing
# so that each call fits a 10-minute device command.
# Assumes NO network on the GPU machine: the package is used from the tree (PYTHONPATH) when an
# offline editable install fails, and Liger-Kernel / pytest are used only if already installed.
# Results go to $OUT (else ./gpu_out): gpu_tests.txt, bench_stdout.txt, bench_loss.md, bench_loss.json,
# bench_logprobs.md, bench_logprobs.json (its stdout appended to bench_stdout.txt), bench_rollout_stdout.txt,
# bench_rollout.json, bench_packing_stdout.txt, bench_packing.json.
# Exit status: 0 all good; 1 tests or benchmark failed; 2 no CUDA device (nothing was run).
set -u -o pipefail
cd "$(dirname "$0")/.."
OUTDIR="${OUT:-./gpu_out}"
mkdir -p "$OUTDIR"
PY="${PYTHON:-python}"
log() { echo "[gpu_check] $*" >&2; }
SECTIONS=" ${*:-tests loss logprobs rollout packing} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    log "no CUDA device (or no torch): the GPU checks need one; nothing run"
    echo "no CUDA device" > "$OUTDIR/gpu_check_status.txt"
    exit 2
fi
nvidia-smi > "$OUTDIR/nvidia_smi.txt" 2>&1 || true

# Install offline: no index, no deps, no build isolation (the C++ verifier builds if a compiler is there).
if timeout 120 "$PY" -m pip install --no-index --no-deps --no-build-isolation -e . > "$OUTDIR/pip_install.log" 2>&1; then
    log "pip install -e . ok"
else
    log "pip install -e . failed (see pip_install.log); using the tree through PYTHONPATH"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
for mod in pytest liger_kernel; do
    if ! "$PY" -c "import $mod" 2>/dev/null; then
        pkg=${mod//_/-}
        timeout 60 "$PY" -m pip install --retries 0 --timeout 10 "$pkg" >> "$OUTDIR/pip_install.log" 2>&1 \
            && log "installed $pkg" || log "$pkg not available (optional)"
    fi
done

status=0
# Every test marked `gpu` (tests/conftest.py), with compiled kernels: TRITON_INTERPRET=0 for the whole
# process (the interpreter tests skip themselves in such a run).
if ! want tests; then
    log "tests: not asked for"
elif "$PY" -c "import pytest" 2>/dev/null; then
    log "tests: pytest -m gpu"
    TRITON_INTERPRET=0 timeout 210 "$PY" -m pytest -q -x -rs -m gpu tests > "$OUTDIR/gpu_tests.txt" 2>&1
    rc=$?
    tail -n 5 "$OUTDIR/gpu_tests.txt" >&2
    [ $rc -eq 0 ] || { log "tests failed or timed out (rc=$rc)"; status=1; }
else
    log "pytest missing: tests skipped"
fi

if want loss; then
log "benchmark (bench_loss.py --quick)"
timeout 270 "$PY" benchmarks/bench_loss.py --quick \
    --out-md "$OUTDIR/bench_loss.md" --out-json "$OUTDIR/bench_loss.json" > "$OUTDIR/bench_stdout.txt" 2>&1
rc=$?
[ $rc -eq 0 ] || { log "benchmark failed or timed out (rc=$rc); partial table below"; status=1; tail -n 20 "$OUTDIR/bench_stdout.txt" >&2; }
fi

# The log-prob primitive (bench_loss.py --op logprobs --quick): rlev_fast.fused_logprobs (reference, chunked,
# triton) beside TRL's _ChunkedLogProbFunction and verl's linear_cross_entropy. TRL and verl are used only
# if already installed there (no network): their rows then say "not installed". ~1 min on an H200.
if want logprobs; then
log "log-prob benchmark (bench_loss.py --op logprobs --quick)"
timeout 150 "$PY" benchmarks/bench_loss.py --op logprobs --quick \
    --out-md "$OUTDIR/bench_logprobs.md" --out-json "$OUTDIR/bench_logprobs.json" >> "$OUTDIR/bench_stdout.txt" 2>&1
rc=$?
[ $rc -eq 0 ] || { log "log-prob benchmark failed or timed out (rc=$rc)"; status=1; tail -n 20 "$OUTDIR/bench_stdout.txt" >&2; }
fi

# Rollout throughput on CUDA (bench_rollout.py): hf-cached and hf on the GPU; vllm is skipped, with
# the reason in the table and the JSON, since this machine has no vLLM (no network to install it).
# ~1 min on an H200 (tiny policy, 16 prompts x 8, 48 tokens).
if want rollout; then
log "rollout benchmark (bench_rollout.py --device cuda)"
timeout 150 "$PY" benchmarks/bench_rollout.py --device cuda --repeats 6 > "$OUTDIR/bench_rollout_stdout.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
    tail -n 1 "$OUTDIR/bench_rollout_stdout.txt" > "$OUTDIR/bench_rollout.json"
    grep -A8 "^rollout tokens/s" "$OUTDIR/bench_rollout_stdout.txt" >&2
else
    log "rollout benchmark failed or timed out (rc=$rc)"; status=1; tail -n 20 "$OUTDIR/bench_rollout_stdout.txt" >&2
fi
fi

# Packed training micro-batches on CUDA (bench_packing.py, issue 16): bf16 autocast, the varlen
# attention backends side by side (flex with its compile, nested, per_sequence; flash_attn where
# installed) against the padded forward, uniform and long-tailed response lengths. ~2 min on an H200.
if want packing; then
log "packing benchmark (bench_packing.py --device cuda)"
timeout 150 "$PY" benchmarks/bench_packing.py --device cuda --repeats 5 --seqs 32 > "$OUTDIR/bench_packing_stdout.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
    tail -n 1 "$OUTDIR/bench_packing_stdout.txt" > "$OUTDIR/bench_packing.json"
    grep -B2 -A7 "^uniform\|^long_tail" "$OUTDIR/bench_packing_stdout.txt" >&2
else
    log "packing benchmark failed or timed out (rc=$rc)"; status=1; tail -n 20 "$OUTDIR/bench_packing_stdout.txt" >&2
fi
fi

echo "gpu_check status: $status" > "$OUTDIR/gpu_check_status.txt"
[ -f "$OUTDIR/bench_logprobs.md" ] && cat "$OUTDIR/bench_logprobs.md"
if [ -f "$OUTDIR/bench_loss.md" ]; then
    cat "$OUTDIR/bench_loss.md"
else
    echo "(no benchmark table was written)"
fi
exit $status

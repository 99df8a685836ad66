#!/usr/bin/env bash
# Runs the benchmark plan on a machine with a real GPU (Vulkan through Dawn) and saves the same
# JSON and plots as on any other machine: the kernel benchmark (every backend, the installed peers;
# WebGPU rows carry the kernel time from timestamp queries, the bytes per call and the fraction of
# the GPU family's datasheet bandwidth) and the audience scan over 1,000,000 users (CPU and WebGPU,
# f32 and int8 user tables).
#
# The target needs no npm and no network: build here, then copy the checkout with dist/ and
# node_modules/ (same OS and CPU architecture; the webgpu package ships its dawn.node prebuilt),
# plus a Node.js binary when the target has none. Usage, from the checkout root:
#
#   bench/gpu/run.sh [--node PATH] [--out DIR] [extra `ralm bench kernel` flags...]
#
# Node is looked up as: --node PATH, then $RALM_NODE, then $NODE, then .tools/node inside the
# checkout, then `node` on PATH. Node is one self-contained executable: `cp "$(command -v node)" .tools/node` on the
# build machine is enough when both run the same glibc-based Linux on the same architecture.
# The GPU needs a Vulkan driver (libvulkan1 and the vendor's ICD, e.g. the NVIDIA driver).
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_BIN="${RALM_NODE:-${NODE:-}}"
OUT_DIR="bench/results"
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --node) NODE_BIN="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
if [ -z "$NODE_BIN" ]; then
  if [ -x .tools/node ]; then NODE_BIN=.tools/node
  elif command -v node >/dev/null 2>&1; then NODE_BIN="$(command -v node)"
  else
    echo "run.sh: no Node.js found. Copy one into .tools/node (cp \"\$(command -v node)\" .tools/node on the build machine), set RALM_NODE=PATH or pass --node PATH" >&2
    exit 2
  fi
fi
major="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then echo "run.sh: Node.js >= 20 needed, $NODE_BIN is $("$NODE_BIN" --version)" >&2; exit 2; fi
if [ ! -f dist/src/cli/main.js ] || [ ! -f dist/src/cpu/wasm/score-kernel.wasm ]; then
  echo "run.sh: dist/ is missing or incomplete; run \`npm ci\` (or \`npm run build\`) on the build machine and copy dist/ along" >&2
  exit 2
fi
if [ ! -d node_modules/webgpu ]; then echo "run.sh: node_modules/ is missing; copy it along from the build machine" >&2; exit 2; fi

# Which adapter Dawn picks: `ralm info` lists it; a software adapter here means the GPU driver is missing.
"$NODE_BIN" bin/ralm.js info
adapter="$("$NODE_BIN" bin/ralm.js info --json | "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);process.stdout.write(j.webgpu.available?(j.webgpu.software?"software":"gpu"):"none")})')"
if [ "$adapter" != "gpu" ]; then
  echo "run.sh: WebGPU adapter is '$adapter', not a hardware GPU; check the Vulkan driver (vulkaninfo --summary)" >&2
  exit 1
fi

mkdir -p "$OUT_DIR"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"

# RALM_GPU_QUICK=1: the short plan (a few minutes, the GPU goals' rows): N = 100,000 at B = 1 and
# 16 on the CPU path and the cooperative scorer (f32, int8), the per-item scorer (f32), the
# scorer's kernel time alone (top 600: every score read back, selected on the host), and the
# audience scan over 1,000,000 users (exact). Building a 1,000,000-item table alone can take
# minutes on the host's processor, which the default plan includes.
if [ "${RALM_GPU_QUICK:-0}" = "1" ]; then
  K=("$NODE_BIN" bin/ralm.js bench kernel --max-item-gib 16 --min-ms 300 --max-ms 2000 --sizes 100000)
  "${K[@]}" --backend cpu,webgpu --gpu-scorer cooperative --batches 1,16 --storage f32,int8 --out "$OUT_DIR/kernel-gpu-coop-$stamp.json" "${EXTRA[@]}"
  "${K[@]}" --backend webgpu --gpu-scorer per-item --batches 1,16 --storage f32 --out "$OUT_DIR/kernel-gpu-per-item-$stamp.json" "${EXTRA[@]}"
  "${K[@]}" --backend webgpu --gpu-scorer cooperative --batches 1 --storage f32 --top 600 --out "$OUT_DIR/kernel-gpu-scorer-$stamp.json" "${EXTRA[@]}"
  "$NODE_BIN" bin/ralm.js bench audience --users 1000000 --ks 20 --targets wasm,webgpu --storage f32,int8 --scans exact --min-ms 1000 --out "$OUT_DIR/audience-gpu-$stamp.json"
  echo "run.sh: wrote $OUT_DIR/kernel-gpu-{coop,per-item,scorer}-$stamp.json and $OUT_DIR/audience-gpu-$stamp.json"
  exit 0
fi
name="kernel-gpu-$stamp"
# The default plan (N up to 1,000,000 at the centre, one parameter at a time around N = 10,000) with a
# budget that admits N = 1,000,000 at k = 20, h = 128; RALM_GPU_FULL=1 runs the whole grid instead
# (tens of minutes). Every backend present, and the peers that are installed.
plan=()
if [ "${RALM_GPU_FULL:-0}" = "1" ]; then plan=(--full); fi
"$NODE_BIN" bin/ralm.js bench kernel "${plan[@]}" --peers --max-item-gib "${RALM_BENCH_MAX_ITEM_GIB:-16}" \
  --out "$OUT_DIR/$name.json" "${EXTRA[@]}" 2> >(tee "$OUT_DIR/$name.log" >&2)
"$NODE_BIN" bin/ralm.js bench plot "$OUT_DIR/$name.json" --out-dir "$OUT_DIR" --prefix "$name"
audience="audience-gpu-$stamp"
"$NODE_BIN" bin/ralm.js bench audience --targets wasm,webgpu --storage f32,int8 --out "$OUT_DIR/$audience.json" 2> >(tee "$OUT_DIR/$audience.log" >&2)
echo "run.sh: wrote $OUT_DIR/$name.json and its plots, and $OUT_DIR/$audience.json"

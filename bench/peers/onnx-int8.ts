/**
 * ONNX Runtime's int8 path for the same scoring: the items as int8 codes with a scale per row (the
 * codes this engine stores, core/quantize.ts), the requests quantized per batch by
 * DynamicQuantizeLinear (uint8, one scale and zero point per tensor: ONNX Runtime's dynamic
 * quantization), and the dot products by MatMulInteger (uint8 × int8 → int32, ONNX Runtime's
 * integer GEMM: https://onnx.ai/onnx/operators/onnx__MatMulInteger.html,
 * https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html). L is never formed,
 * as in the engine's int8 kernel: e·L = Σ w_j (C_j·e) and |L|² = wᵀGw with each item's Gram matrix
 * of the values the codes stand for.
 *
 *   q = E·W_lᵀ                                   Gemm                                    [B,h]
 *   S = MatMulInteger(quant(q), codesᵀ) · s_row · s_q   (and D likewise from e)         [B,N·k]
 *   w = exp(tanh(S))                              Tanh, Exp            (as [N,B,k])
 *   e·L = Σ_j w_j D_j;  |L|² = Σ (w G) ∘ w        Mul, ReduceSum, MatMul([N,B,k]·[N,k,k])
 *   cos_g, cos_l, score, TopK: as the f32 graph (onnx.ts)
 *
 * The requests get 8-bit codes here against the engine's 16-bit ones, so scores differ from the
 * engine's int8 scores by about 1e-3; the check allows INT8_PEER_TOLERANCE.
 */
import type { Peer, PeerSession } from './peer.js';
import type { Workload } from '../workload.js';
import { quantizeRow, writeGram } from '../../src/core/quantize.js';
import {
  FLOAT, INT64, addCosineBlendTopK, MAX_INITIALIZER_BYTES, floatTensor, int, int64Tensor, ints, loadOrt, valueInfo, type Attr, type OnnxProto,
} from './onnx.js';

const INT8 = 3;

/** How far this peer's scores may be from the engine's int8 scores (8-bit against 16-bit request codes). */
export const INT8_PEER_TOLERANCE = { abs: 1e-2, rel: 0 };

/** The items as ONNX Runtime's int8 graph takes them: codes transposed [h, N·k], row scales [N·k], values' Gram [N,k,k]. */
function quantizeItems(w: Workload): { codesT: Int8Array; scales: Float32Array; gram: Float32Array } {
  const { n, k, h } = w;
  const rows = n * k;
  const codes = new Int8Array(h);
  const values = new Float32Array(rows * h);
  const codesT = new Int8Array(h * rows);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    scales[r] = quantizeRow(w.centroids, r * h, h, codes, 0, values, r * h);
    for (let d = 0; d < h; d++) codesT[d * rows + r] = codes[d];
  }
  const gram = new Float32Array(n * k * k);
  for (let i = 0; i < n; i++) writeGram(values, i * k * h, h, h, k, k, gram, i * k * k);
  return { codesT, scales, gram };
}

function buildInt8Onnx(proto: OnnxProto, w: Workload, topK: number): Uint8Array {
  const { n, k, h } = w;
  const { alpha, beta } = w.model.manifest;
  const { codesT, scales, gram } = quantizeItems(w);
  const nodes: object[] = [];
  const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []): void => {
    nodes.push({ opType, input, output, attribute, name: `${opType}_${nodes.length}` });
  };
  node('Gemm', ['E', 'Wl'], ['Q'], [int('transB', 1)]);
  // S (from q) and D (from e): integer dots against every row, scaled back, as [N,B,k].
  for (const [v, out] of [['Q', 'S'], ['E', 'D']]) {
    node('DynamicQuantizeLinear', [v], [`${v}q`, `${v}s`, `${v}z`]);
    node('MatMulInteger', [`${v}q`, 'CT', `${v}z`], [`${v}i`]);
    node('Cast', [`${v}i`], [`${v}f`], [int('to', FLOAT)]);
    node('Mul', [`${v}f`, 'RS'], [`${v}r`]);
    node('Mul', [`${v}r`, `${v}s`], [`${v}v`]);
    node('Reshape', [`${v}v`, 'shapeBNK'], [`${v}3`]);
    node('Transpose', [`${v}3`], [out], [ints('perm', [1, 0, 2])]);
  }
  node('Tanh', ['S'], ['T']);
  node('Exp', ['T'], ['W']);
  node('Mul', ['W', 'D'], ['WD']);
  node('ReduceSum', ['WD', 'axis2'], ['dotL'], [int('keepdims', 0)]);
  node('MatMul', ['W', 'Gram'], ['WG']);
  node('Mul', ['WG', 'W'], ['WGW']);
  node('ReduceSum', ['WGW', 'axis2'], ['nL2'], [int('keepdims', 0)]);
  node('Sqrt', ['nL2'], ['nL']);
  addCosineBlendTopK(node);

  const scalar = (name: string, v: number): object => floatTensor(name, [], Float32Array.of(v));
  const initializer = [
    floatTensor('Wl', [h, h], w.model.weights.localWeight),
    { name: 'CT', dims: [h, n * k], dataType: INT8, rawData: new Uint8Array(codesT.buffer, codesT.byteOffset, codesT.byteLength) },
    floatTensor('RS', [n * k], scales),
    floatTensor('Gram', [n, k, k], gram),
    floatTensor('G', [n, h], w.globals),
    scalar('alpha', alpha), scalar('beta', beta), scalar('eps', 1e-6), scalar('zero', 0),
    int64Tensor('axis1', [1], [1]), int64Tensor('axis2', [1], [2]), int64Tensor('K', [1], [Math.min(topK, n)]),
    int64Tensor('shapeBNK', [3], [-1, n, k]),
  ];
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'ralm-bench',
    graph: {
      name: 'ralm_score_topk_int8', node: nodes, initializer, input: [valueInfo('E', FLOAT, ['B', h])],
      output: [valueInfo('values', FLOAT, ['B', Math.min(topK, n)]), valueInfo('indices', INT64, ['B', Math.min(topK, n)])],
    },
  };
  return proto.onnx.ModelProto.encode(model).finish();
}

export async function onnxRuntimeInt8Peer(): Promise<Peer> {
  const { ort, proto, version, threads } = await loadOrt();
  return {
    name: 'onnxruntime-cpu-int8',
    label: `ONNX Runtime ${version}, CPU provider, int8 (MatMulInteger, dynamic quantization), ${threads} intra-op thread${threads > 1 ? 's' : ''}`,
    version,
    storage: 'int8',
    tolerance: INT8_PEER_TOLERANCE,
    async open(w: Workload, topK: number): Promise<PeerSession> {
      // Codes, scales, Gram matrices and globals are initializers, all in one protobuf message.
      const bytes = w.n * (w.k * (w.h + 4 + 4 * w.k) + 4 * w.h);
      if (bytes > MAX_INITIALIZER_BYTES) throw new Error(`int8 item data of ${(bytes / 2 ** 30).toFixed(1)} GiB exceeds what one ONNX model holds as initializers (${(MAX_INITIALIZER_BYTES / 2 ** 30).toFixed(1)} GiB)`);
      const session = await ort.InferenceSession.create(buildInt8Onnx(proto, w, topK), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads });
      return {
        async run(users: Float32Array, b: number) {
          const out = await session.run({ E: new ort.Tensor('float32', users.subarray(0, b * w.h), [b, w.h]) });
          return { index: Array.from(out.indices.data as ArrayLike<bigint>, Number), score: out.values.data as Float32Array };
        },
        async close() {
          await session.release();
        },
      };
    },
  };
}

/**
 * ONNX Runtime for Node on its CPU execution provider, running the RALM scoring graph built here
 * with `onnx-proto` (the ONNX protobuf schema compiled for protobufjs):
 *
 *   q = E·W_lᵀ                         Gemm               [B,h]
 *   s = C·qᵀ                           MatMul             [N,k,B]
 *   w = exp(tanh(s))                   Tanh, Exp
 *   L = wᵀ·C                           Transpose, MatMul  [N,B,h]
 *   cos_l = e·L / (|e||L|), 0 when a norm < 1e-6          [N,B]
 *   cos_g = e·g / (|e||g|), likewise                       [N,B]
 *   score = α·cos_g + β·cos_l; TopK along N (sorted, ties to the lower index: ONNX TopK-11)
 *
 * Intra-op threads are set to the engine's CPU thread count (2 where the host has 2 cores), so
 * that both sides get the same cores: ONNX Runtime's own default is the number of physical cores,
 * which a 2-vCPU VM may report as 1.
 *
 * Items are initializers (resident in the session, as they are in the engine's table) while the
 * model stays under protobuf's 2 GiB message limit; beyond it they are bound as inputs that the
 * same Float32Arrays back on every run.
 */
import { availableParallelism } from 'node:os';
import { importOptional, OPTIONAL_INSTALL_FIX, type Peer, type PeerSession } from './peer.js';
import type { Workload } from '../workload.js';

export interface OrtTensor {
  data: ArrayLike<number | bigint>;
  dispose?(): void;
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  env: { versions: Record<string, string> };
}
export interface OnnxProto {
  onnx: { ModelProto: { encode(m: object): { finish(): Uint8Array } } };
}

// ONNX enum values (onnx.proto3: TensorProto.DataType, AttributeProto.AttributeType).
export const FLOAT = 1;
export const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Leave headroom under protobuf's 2 GiB message limit for the graph itself. */
export const MAX_INITIALIZER_BYTES = 1.8 * 2 ** 30;

export const FIX = `${OPTIONAL_INSTALL_FIX}; onnxruntime-node's install script downloads CUDA binaries, which this project skips (package.json "allowScripts"; with npm before 11 set ONNXRUNTIME_NODE_INSTALL=skip)`;

export type Attr = { name: string; type: number; i?: number; ints?: number[] };
export const int = (name: string, i: number): Attr => ({ name, type: ATTR_INT, i });
export const ints = (name: string, v: number[]): Attr => ({ name, type: ATTR_INTS, ints: v });

export function floatTensor(name: string, dims: number[], data: Float32Array): object {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, dims: number[], values: number[]): object {
  return { name, dims, dataType: INT64, int64Data: values };
}

export function valueInfo(name: string, elemType: number, dims: Array<number | string>): object {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** A graph's node appender: op type, inputs, outputs, attributes. */
export type AddNode = (opType: string, input: string[], output: string[], attribute?: Attr[]) => void;

/**
 * The score's common tail, shared by the f32 and int8 graphs: from `dotL` and `nL` (e · L and |L|,
 * [B, N]), the request matrix `E` [B, h] and the global vectors `G` [N, h], the two cosines (0 where
 * a length is under `eps`), the blend with `alpha` and `beta`, and `TopK` over `K` into `values`
 * and `indices`.
 */
export function addCosineBlendTopK(node: AddNode): void {
  node('Mul', ['E', 'E'], ['EE']);
  node('ReduceSum', ['EE', 'axis1'], ['nE2'], [int('keepdims', 0)]);
  node('Sqrt', ['nE2'], ['nE']);
  node('Transpose', ['E'], ['ET']);
  node('MatMul', ['G', 'ET'], ['dotG']);
  node('Mul', ['G', 'G'], ['GG']);
  node('ReduceSum', ['GG', 'axis1'], ['nG2'], [int('keepdims', 1)]);
  node('Sqrt', ['nG2'], ['nG']);
  node('Less', ['nE', 'eps'], ['zE']);
  for (const [dot, norm, out] of [['dotL', 'nL', 'cosL'], ['dotG', 'nG', 'cosG']]) {
    node('Mul', [norm, 'nE'], [`${out}_den`]);
    node('Div', [dot, `${out}_den`], [`${out}_raw`]);
    node('Less', [norm, 'eps'], [`${out}_z`]);
    node('Or', [`${out}_z`, 'zE'], [`${out}_zero`]);
    node('Where', [`${out}_zero`, 'zero', `${out}_raw`], [out]);
  }
  node('Mul', ['alpha', 'cosG'], ['aG']);
  node('Mul', ['beta', 'cosL'], ['bL']);
  node('Add', ['aG', 'bL'], ['scoreNB']);
  node('Transpose', ['scoreNB'], ['score']);
  node('TopK', ['score', 'K'], ['values', 'indices'], [int('axis', -1), int('largest', 1), int('sorted', 1)]);
}

/** The RALM scoring graph for one workload; `itemsAsInputs` binds C and G as inputs instead of initializers. */
export function buildRalmOnnx(proto: OnnxProto, w: Workload, topK: number, itemsAsInputs: boolean): Uint8Array {
  const { n, k, h } = w;
  const { alpha, beta } = w.model.manifest;
  const nodes: object[] = [];
  const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []): void => {
    nodes.push({ opType, input, output, attribute, name: `${opType}_${nodes.length}` });
  };
  node('Gemm', ['E', 'Wl'], ['Q'], [int('transB', 1)]);
  node('Transpose', ['Q'], ['QT']);
  node('MatMul', ['C', 'QT'], ['S']);
  node('Tanh', ['S'], ['T']);
  node('Exp', ['T'], ['W']);
  node('Transpose', ['W'], ['WT'], [ints('perm', [0, 2, 1])]);
  node('MatMul', ['WT', 'C'], ['L']);
  node('Mul', ['L', 'E'], ['EL']);
  node('ReduceSum', ['EL', 'axis2'], ['dotL'], [int('keepdims', 0)]);
  node('Mul', ['L', 'L'], ['LL']);
  node('ReduceSum', ['LL', 'axis2'], ['nL2'], [int('keepdims', 0)]);
  node('Sqrt', ['nL2'], ['nL']);
  addCosineBlendTopK(node);

  const scalar = (name: string, v: number): object => floatTensor(name, [], Float32Array.of(v));
  const items = [floatTensor('C', [n, k, h], w.centroids), floatTensor('G', [n, h], w.globals)];
  const initializer = [
    floatTensor('Wl', [h, h], w.model.weights.localWeight),
    scalar('alpha', alpha), scalar('beta', beta), scalar('eps', 1e-6), scalar('zero', 0),
    int64Tensor('axis1', [1], [1]), int64Tensor('axis2', [1], [2]), int64Tensor('K', [1], [Math.min(topK, n)]),
    ...(itemsAsInputs ? [] : items),
  ];
  const input = [valueInfo('E', FLOAT, ['B', h]), ...(itemsAsInputs ? [valueInfo('C', FLOAT, [n, k, h]), valueInfo('G', FLOAT, [n, h])] : [])];
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'ralm-bench',
    graph: {
      name: 'ralm_score_topk', node: nodes, initializer, input,
      output: [valueInfo('values', FLOAT, ['B', Math.min(topK, n)]), valueInfo('indices', INT64, ['B', Math.min(topK, n)])],
    },
  };
  return proto.onnx.ModelProto.encode(model).finish();
}

/** onnxruntime-node and onnx-proto, loaded on demand (optional dependencies), and the thread count both peers use. */
export async function loadOrt(): Promise<{ ort: Ort; proto: OnnxProto; version: string; threads: number }> {
  const ortModule = await importOptional<Ort & { default?: Ort }>('onnxruntime-node', FIX);
  const ort = ortModule.default ?? ortModule;
  const protoModule = await importOptional<OnnxProto & { default?: OnnxProto }>('onnx-proto', FIX);
  const proto = protoModule.onnx ? protoModule : (protoModule.default as OnnxProto);
  const version = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
  return { ort, proto, version, threads: Math.min(2, availableParallelism()) };
}

export async function onnxRuntimePeer(): Promise<Peer> {
  const { ort, proto, version, threads } = await loadOrt();
  return {
    name: 'onnxruntime-cpu',
    label: `ONNX Runtime ${version}, CPU provider, ${threads} intra-op thread${threads > 1 ? 's' : ''}`,
    version,
    async open(w: Workload, topK: number): Promise<PeerSession> {
      const itemsAsInputs = (w.centroids.byteLength + w.globals.byteLength) > MAX_INITIALIZER_BYTES;
      const bytes = buildRalmOnnx(proto, w, topK, itemsAsInputs);
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads });
      const itemFeeds: Record<string, OrtTensor> = itemsAsInputs
        ? { C: new ort.Tensor('float32', w.centroids, [w.n, w.k, w.h]), G: new ort.Tensor('float32', w.globals, [w.n, w.h]) }
        : {};
      return {
        async run(users: Float32Array, b: number) {
          const out = await session.run({ ...itemFeeds, E: new ort.Tensor('float32', users.subarray(0, b * w.h), [b, w.h]) });
          return { index: Array.from(out.indices.data as ArrayLike<bigint>, Number), score: out.values.data as Float32Array };
        },
        async close() {
          await session.release();
        },
      };
    },
  };
}

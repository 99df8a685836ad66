/**
 * The item-change kernels: global self-attention over changed items' centroids
 * (global-attention.wgsl) and the shared transform T(x) = PReLU(W_t x + b_t) (transform.wgsl).
 * Both run one dispatch per call and own the model weights they read.
 */
import type { ModelManifest, RalmModel } from '../../model/model.js';
import { globalAttentionProgram, transformProgram, type UniformsOf } from '../programs.js';
import { Usage, UniformPool, type GpuRuntime, type GrowableBuffer } from '../runtime.js';

export interface GlobalAttentionPlan {
  readonly params: UniformsOf<typeof globalAttentionProgram>;
  /** One invocation per item. */
  readonly invocations: number;
  readonly globalsBytes: number;
  readonly normsBytes: number;
}

export function planGlobalAttention(items: number, manifest: Pick<ModelManifest, 'h' | 'k' | 'attentionSize'>): GlobalAttentionPlan {
  const { h, k, attentionSize: s } = manifest;
  return { params: { item_count: items, k, h, s }, invocations: items, globalsBytes: items * h * 4, normsBytes: items * 4 };
}

export interface TransformPlan {
  readonly params: UniformsOf<typeof transformProgram>;
  /** One invocation per output element. */
  readonly invocations: number;
  /** Floats of x the kernel reads. */
  readonly inputFloats: number;
  readonly outputBytes: number;
}

export function planTransform(count: number, manifest: Pick<ModelManifest, 'h' | 'm'>): TransformPlan {
  const { h, m } = manifest;
  return { params: { count, m, h, _pad: 0 }, invocations: count * h, inputFloats: count * m, outputBytes: count * h * 4 };
}

export class AttentionKernels {
  private readonly weights: Record<'transformWeight' | 'transformBias' | 'transformPrelu' | 'globalWeight' | 'globalVector', GPUBuffer>;
  private readonly in1: GrowableBuffer;
  private readonly in2: GrowableBuffer;
  private readonly out1: GrowableBuffer;
  private readonly out2: GrowableBuffer;
  private readonly uniforms: UniformPool;

  constructor(
    private readonly runtime: GpuRuntime,
    private readonly model: RalmModel,
  ) {
    const w = model.weights;
    this.weights = {
      transformWeight: runtime.upload('transform.weight', w.transformWeight),
      transformBias: runtime.upload('transform.bias', w.transformBias),
      transformPrelu: runtime.upload('transform.prelu', w.transformPrelu),
      globalWeight: runtime.upload('global.weight', w.globalWeight),
      globalVector: runtime.upload('global.vector', w.globalVector),
    };
    this.in1 = runtime.growable('kernel input 1', Usage.STORAGE | Usage.COPY_DST);
    this.in2 = runtime.growable('kernel input 2', Usage.STORAGE | Usage.COPY_DST);
    this.out1 = runtime.growable('kernel output 1', Usage.STORAGE | Usage.COPY_SRC);
    this.out2 = runtime.growable('kernel output 2', Usage.STORAGE | Usage.COPY_SRC);
    this.uniforms = new UniformPool(runtime, 'attention uniforms');
  }

  /** Global attention for `counts.length` items ([items, k, h] centroids). Runs inside the runtime's exclusive section. */
  async globalAttention(centroids: Float32Array, counts: Uint32Array): Promise<{ globals: Float32Array; norms: Float32Array }> {
    const items = counts.length;
    if (items === 0) return { globals: new Float32Array(0), norms: new Float32Array(0) };
    const rt = this.runtime;
    const plan = planGlobalAttention(items, this.model.manifest);
    rt.write(this.in1.ensure(centroids.byteLength), 0, centroids);
    rt.write(this.in2.ensure(counts.byteLength), 0, counts);
    const outGlobals = this.out1.ensure(plan.globalsBytes);
    const outNorms = this.out2.ensure(plan.normsBytes);
    const params = this.uniforms.at(0);
    rt.writeUniforms(params, globalAttentionProgram, plan.params);
    const encoder = rt.device.createCommandEncoder({ label: 'global attention' });
    const pass = encoder.beginComputePass();
    rt.dispatch(pass, globalAttentionProgram, {
      params, centroids: this.in1.buffer, counts: this.in2.buffer, w_g_mat: this.weights.globalWeight, w_g_vec: this.weights.globalVector,
      out_globals: outGlobals, out_norms: outNorms,
    }, plan.invocations);
    pass.end();
    const [g, n] = await rt.readBack([{ src: outGlobals, bytes: plan.globalsBytes }, { src: outNorms, bytes: plan.normsBytes }], encoder);
    return { globals: new Float32Array(g), norms: new Float32Array(n) };
  }

  /** T(x) for `count` vectors of width m. Runs inside the runtime's exclusive section. */
  async transform(x: Float32Array, count: number): Promise<Float32Array> {
    if (count === 0) return new Float32Array(0);
    const rt = this.runtime;
    const plan = planTransform(count, this.model.manifest);
    rt.write(this.in1.ensure(x.byteLength), 0, x.subarray(0, plan.inputFloats));
    const out = this.out1.ensure(plan.outputBytes);
    const params = this.uniforms.at(0);
    rt.writeUniforms(params, transformProgram, plan.params);
    const encoder = rt.device.createCommandEncoder({ label: 'transform' });
    const pass = encoder.beginComputePass();
    rt.dispatch(pass, transformProgram, {
      params, x: this.in1.buffer, weight: this.weights.transformWeight, bias: this.weights.transformBias, prelu: this.weights.transformPrelu, out,
    }, plan.invocations);
    pass.end();
    const [raw] = await rt.readBack([{ src: out, bytes: plan.outputBytes }], encoder);
    return new Float32Array(raw);
  }
}

/**
 * Packs values into a uniform buffer following WGSL's host-shareable layout rules:
 * scalars align to 4 bytes, vec2 to 8, vec3 and vec4 to 16; a struct's size is rounded up
 * to its largest member alignment (and uniform buffers additionally to 16 bytes).
 * One packer for every kernel, tested without a GPU.
 */
export type UniformType = 'u32' | 'i32' | 'f32' | 'vec2<u32>' | 'vec2<f32>' | 'vec3<f32>' | 'vec4<u32>' | 'vec4<f32>';

export interface UniformField<F extends string = string> {
  readonly name: F;
  readonly type: UniformType;
}

const INFO: Record<UniformType, { align: number; size: number; kind: 'u32' | 'i32' | 'f32'; count: number }> = {
  u32: { align: 4, size: 4, kind: 'u32', count: 1 },
  i32: { align: 4, size: 4, kind: 'i32', count: 1 },
  f32: { align: 4, size: 4, kind: 'f32', count: 1 },
  'vec2<u32>': { align: 8, size: 8, kind: 'u32', count: 2 },
  'vec2<f32>': { align: 8, size: 8, kind: 'f32', count: 2 },
  'vec3<f32>': { align: 16, size: 12, kind: 'f32', count: 3 },
  'vec4<u32>': { align: 16, size: 16, kind: 'u32', count: 4 },
  'vec4<f32>': { align: 16, size: 16, kind: 'f32', count: 4 },
};

/** Field offsets and the struct's size; `F` names the fields, so callers' values are type-checked. */
export interface UniformLayout<F extends string = string> {
  readonly fields: ReadonlyArray<UniformField<F> & { readonly offset: number }>;
  readonly size: number;
}

export function uniformLayout<const F extends string>(fields: ReadonlyArray<UniformField<F>>): UniformLayout<F> {
  let offset = 0;
  let maxAlign = 4;
  const out: Array<UniformField<F> & { offset: number }> = [];
  for (const f of fields) {
    const info = INFO[f.type];
    offset = Math.ceil(offset / info.align) * info.align;
    out.push({ ...f, offset });
    offset += info.size;
    maxAlign = Math.max(maxAlign, info.align);
  }
  const size = Math.ceil(Math.ceil(offset / maxAlign) * maxAlign / 16) * 16;
  return { fields: out, size };
}

export type UniformValues<F extends string = string> = Readonly<Record<F, number | readonly number[]>>;

/** Packs `values` (every field required) into a fresh ArrayBuffer of layout.size bytes. */
export function packUniforms(layout: UniformLayout, values: UniformValues): ArrayBuffer {
  const buf = new ArrayBuffer(layout.size);
  const view = new DataView(buf);
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === undefined) throw new Error(`uniform field "${f.name}" has no value`);
    const info = INFO[f.type];
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== info.count) throw new Error(`uniform field "${f.name}" (${f.type}) needs ${info.count} values, got ${arr.length}`);
    for (let i = 0; i < info.count; i++) {
      const at = f.offset + i * 4;
      if (info.kind === 'f32') view.setFloat32(at, arr[i], true);
      else if (info.kind === 'i32') view.setInt32(at, arr[i], true);
      else {
        if (!Number.isInteger(arr[i]) || arr[i] < 0 || arr[i] > 0xffffffff) throw new Error(`uniform field "${f.name}" needs a u32, got ${arr[i]}`);
        view.setUint32(at, arr[i], true);
      }
    }
  }
  return buf;
}

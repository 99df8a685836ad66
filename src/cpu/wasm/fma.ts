/**
 * Derives the fused multiply-add variant of a kernel from its WAT source: every folded
 * `(f32x4.add X (f32x4.mul Y Z))` or `(f32x4.add (f32x4.mul Y Z) X)` becomes
 * `(f32x4.relaxed_madd Y Z X)` (relaxed SIMD, https://github.com/WebAssembly/relaxed-simd:
 * Y·Z + X, fused where the processor has FMA, else a multiply and an add). One readable source
 * serves both binaries; the plain one runs where relaxed SIMD is unavailable.
 */

type Node = string | Node[];

/** Parses WAT into nested lists of tokens; line comments (`;; …`) are dropped. */
function parse(source: string): Node[] {
  const text = source.replace(/;;[^\n]*/g, '');
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const re = /\(|\)|"(?:[^"\\]|\\.)*"|[^\s()]+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const t = m[0];
    if (t === '(') {
      const list: Node[] = [];
      stack[stack.length - 1].push(list);
      stack.push(list);
    } else if (t === ')') {
      if (stack.length === 1) throw new Error('fma: unbalanced ")"');
      stack.pop();
    } else {
      stack[stack.length - 1].push(t);
    }
  }
  if (stack.length !== 1) throw new Error('fma: unbalanced "("');
  return root;
}

function isMul(n: Node): n is Node[] {
  return Array.isArray(n) && n.length === 3 && n[0] === 'f32x4.mul';
}

function rewrite(n: Node): { node: Node; count: number } {
  if (!Array.isArray(n)) return { node: n, count: 0 };
  let count = 0;
  const kids = n.map((c) => {
    const r = rewrite(c);
    count += r.count;
    return r.node;
  });
  if (kids.length === 3 && kids[0] === 'f32x4.add') {
    const [, a, b] = kids;
    if (isMul(b)) return { node: ['f32x4.relaxed_madd', b[1], b[2], a], count: count + 1 };
    if (isMul(a)) return { node: ['f32x4.relaxed_madd', a[1], a[2], b], count: count + 1 };
  }
  return { node: kids, count };
}

function print(n: Node): string {
  return Array.isArray(n) ? `(${n.map(print).join(' ')})` : n;
}

/** The source with its folded multiply-adds fused, and how many were. */
export function fuseMultiplyAdds(source: string): { source: string; fused: number } {
  let fused = 0;
  const out = parse(source).map((n) => {
    const r = rewrite(n);
    fused += r.count;
    return print(r.node);
  });
  return { source: out.join('\n'), fused };
}

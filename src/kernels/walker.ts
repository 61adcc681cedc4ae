/**
 * The address walker of the elementwise kernels (elementwise.ts): an invocation computes its
 * leaves' addresses once, at its first unit, then steps them from unit to unit.
 */
import { capFor, udiv, type Divisor, type Uniforms } from './wgsl.js';

/**
 * Addresses of several operands over one merged shape, walked forward `step` elements at a time
 * (see elementwise.ts `Addressing`; a pair group walks units, see `pairUnits`). Rank ≤ 1 (every all-contiguous or broadcast-scalar group, after `coalesce`)
 * keeps no coordinates: address = offset + flat · stride, stepped by step · stride; key 'f'. Higher
 * ranks keep one u32 coordinate per axis but the first, right-aligned in a capacity of 4 (leading
 * axes of size 1) so one pipeline serves ranks 2–4 (key 'w4'): a step adds `step` to the innermost
 * coordinate and step · stride to each address; when an axis wraps (coordinate ≥ its size), the
 * coordinate drops by the size, the next outer one increments and each address adds a precomputed
 * delta (strides[d] − dims[d+1]·strides[d+1]). One carry per axis suffices while `step` ≤ the
 * innermost size (`walkable`). A unit never straddles a row: at width 4 the innermost size is a
 * multiple of 4 (`vec4Ready`), and so is the step. Axis 0 is not tracked: it wraps only past the end.
 */
export class Walker {
  readonly key: string;
  private readonly cap: number;
  private readonly dims: Divisor[] = [];
  private readonly ops: { off: string; s: string[]; step: string; delta: string[] }[];

  constructor(u: Uniforms, shape: readonly number[], operands: { strides: readonly number[]; offset: number }[], private readonly step: number) {
    const r = shape.length;
    this.cap = r <= 1 ? 1 : capFor(r);
    this.key = this.cap === 1 ? 'f' : `w${this.cap}`;
    const pad = this.cap - Math.max(r, 1);
    const D = [...Array(pad).fill(1), ...(r === 0 ? [1] : shape)];
    for (let d = 1; d < this.cap; d++) this.dims[d] = u.divisor(D[d]);
    this.ops = operands.map((o) => {
      const S = [...Array(pad).fill(0), ...(r === 0 ? [0] : o.strides)];
      const last = this.cap - 1;
      return {
        off: u.i32(o.offset),
        s: S.map((s) => u.i32(s)),
        step: u.i32(step * S[last]),
        delta: S.slice(0, last).map((s, d) => u.i32(s - D[d + 1] * S[d + 1])),
      };
    });
  }

  /** WGSL declaring `var names[k]: i32`, operand k's address at row-major element index `flat`. */
  init(flat: string, names: string[], tag: string): string {
    if (this.cap === 1) return this.ops.map((o, k) => `var ${names[k]}: i32 = ${o.off} + i32(${flat}) * ${o.s[0]};`).join('\n  ');
    const lines = [`var ${tag}rem = ${flat};`];
    for (let d = this.cap - 1; d >= 1; d--) {
      lines.push(`${udiv(`${tag}rem`, this.dims[d], `${tag}q${d}`, `${tag}r${d}`)}\n  var ${tag}c${d} = ${tag}r${d}; ${tag}rem = ${tag}q${d};`);
    }
    const coord = (d: number) => (d === 0 ? `${tag}rem` : `${tag}c${d}`);
    for (const [k, o] of this.ops.entries()) {
      lines.push(`var ${names[k]}: i32 = ${o.off}${o.s.map((s, d) => ` + i32(${coord(d)}) * ${s}`).join('')};`);
    }
    return lines.join('\n  ');
  }

  /** WGSL advancing every address by `step` elements. */
  advance(names: string[], tag: string): string {
    const add = (f: (o: Walker['ops'][number]) => string) => this.ops.map((o, k) => `${names[k]} = ${names[k]} + ${f(o)};`).join(' ');
    if (this.cap === 1) return add((o) => o.step);
    const carry = (d: number): string => {
      const inc = d - 1 >= 1 ? `${tag}c${d - 1} = ${tag}c${d - 1} + 1u; ` : '';
      const next = d - 1 >= 1 ? `\n  ${carry(d - 1)}` : '';
      return `if (${tag}c${d} >= ${this.dims[d].d}) { ${tag}c${d} = ${tag}c${d} - ${this.dims[d].d}; ${inc}${add((o) => o.delta[d - 1])}${next} }`;
    };
    const last = this.cap - 1;
    return `${tag}c${last} = ${tag}c${last} + ${this.step}u; ${add((o) => o.step)}\n  ${carry(last)}`;
  }
}


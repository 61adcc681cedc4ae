/**
 * The primitive graph of a traced function, printed: wgrad's `jax.make_jaxpr`.
 *
 * `graph(f)(...args)` runs `f` once the way `grad` does — every tensor leaf of the arguments is an
 * alias marked as a leaf, tracing on, so every primitive applied to a traced value records itself
 * on its output (src/tensor/engine.ts) — then walks the records from the outputs and returns them
 * as plain data, one equation per primitive, with a text form in the jaxpr style:
 *
 *   graph((x) => sum(mul(tanh(x), 2)))(tensor([1, 2, 3])).toString() ===
 *   { lambda ; a:f32[3]. let
 *       b:f32[3] = tanh a
 *       c:f32[3] = mul b 2.0:f32[]
 *       d:f32[] = sum[axes=[0]] c
 *     in (d) }
 *
 * Names before `;` are constants: tensors `f` used but did not compute from its arguments (a scalar
 * constant such as `mul(x, 2)`'s 2 is printed in place, as the literal `2.0:f32[]`). Values that do
 * not depend on the arguments are computed when `f` runs, not recorded: they are constants too (in
 * JAX, make_jaxpr stages them out; here, e.g. a gradient's seed of ones is a constant). Names after
 * `;` are the arguments' tensors. Unlike autodiff, the
 * printout records every dtype, so comparisons and integer steps are equations too. Because a
 * gradient transform inside `f` traces its backward pass when an outer trace is active (that is how
 * grad of grad works), `graph(valueAndGrad(loss))(params)` prints the forward and backward graph.
 * Every tensor made is freed before `graph` returns: the result holds names, shapes and dtypes only.
 */
import { WgradError } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { alias } from '../tensor/alias.js';
import { constantValue } from '../tensor/ops/creation.js';
import { withEveryDTypeRecorded } from '../tensor/engine.js';
import { withTracing } from '../tensor/lifetime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves, treeMap } from '../tensor/tree.js';
import { topoOrder } from './backward.js';

/** One value of the graph: its name, dtype and shape. */
export interface GraphVar {
  name: string;
  dtype: DType;
  shape: number[];
}

/** One primitive application: `out = prim[params] inputs`. */
export interface GraphEquation {
  prim: string;
  /** The primitive's parameters (src/core/prims.ts, PrimParams), as recorded. */
  params: Record<string, unknown>;
  /** Names of the input values, or a scalar constant's literal (`2.0:f32[]`). */
  inputs: string[];
  out: GraphVar;
}

/** The primitives a traced function applied, with its constants, inputs and outputs (`debug.graph`). */
export interface PrimGraph {
  /** Tensors `f` used without computing them from its arguments. */
  consts: GraphVar[];
  /** The tensor leaves of the arguments, in pytree order. */
  inputs: GraphVar[];
  /** In the order `f` applied them (every input is computed before it is used). */
  equations: GraphEquation[];
  /** Names of the tensor leaves of `f`'s result, in pytree order. */
  outputs: string[];
  /** The jaxpr-style text form (one line per primitive). */
  toString(): string;
}

const SHORT_DTYPE: Record<DType, string> = { float32: 'f32', int32: 'i32', uint32: 'u32', bool: 'bool' };

/** a, b, …, z, ba, bb, …: jaxpr's variable names (bijective base 26 starting at b for two letters). */
function varName(i: number): string {
  let s = '';
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return s;
}

/** A cached scalar constant (`mul(x, 2)`'s 2) as a jaxpr literal, `2.0:f32[]`. */
function literal(t: Tensor): string | undefined {
  const v = constantValue(t);
  if (v === undefined) return undefined;
  const text = t.dtype === 'float32' && Number.isInteger(v) && !Object.is(v, -0) ? v.toFixed(1) : String(v);
  return `${text}:${SHORT_DTYPE[t.dtype]}[]`;
}

const typed = (v: GraphVar) => `${v.name}:${SHORT_DTYPE[v.dtype]}[${v.shape.join(',')}]`;

function fmtParam(v: unknown): string {
  return Array.isArray(v) ? `[${v.map(fmtParam).join(',')}]` : String(v);
}

function fmtEquation(e: GraphEquation): string {
  const params = Object.entries(e.params).map(([k, v]) => `${k}=${fmtParam(v)}`);
  const head = params.length ? `${e.prim}[${params.join(' ')}]` : e.prim;
  return `${typed(e.out)} = ${[head, ...e.inputs].join(' ')}`;
}

function graphText(g: Omit<PrimGraph, 'toString'>): string {
  const consts = g.consts.map(typed).join(' ');
  const lines = [`{ lambda ${consts ? `${consts} ` : ''}; ${g.inputs.map(typed).join(' ')}. let`];
  for (const e of g.equations) lines.push(`    ${fmtEquation(e)}`);
  lines.push(`  in (${g.outputs.join(', ')}) }`);
  return lines.join('\n');
}

/** Names every tensor of the recorded graph from `inputs` to `outputs` and lists its equations. */
function readGraph(inputs: Tensor[], outputs: Tensor[]): Omit<PrimGraph, 'toString'> {
  const names = new Map<Tensor, GraphVar>();
  const declare = (t: Tensor) => {
    const v = { name: varName(names.size), dtype: t.dtype, shape: [...t.shape] };
    names.set(t, v);
    return v;
  };
  const graph = { consts: [] as GraphVar[], inputs: inputs.map(declare), equations: [] as GraphEquation[], outputs: [] as string[] };
  const nameOf = (t: Tensor) => names.get(t) ?? (graph.consts.push(declare(t)), names.get(t)!);
  // In the order the primitives ran (tensor ids grow with creation): inputs always come first.
  for (const t of topoOrder(outputs, new Set(inputs)).sort((a, b) => a.id - b.id)) {
    const node = t._node;
    if (!node || names.has(t)) continue;
    const args = node.inputs.map((x) => names.get(x)?.name ?? literal(x) ?? nameOf(x).name);
    graph.equations.push({ prim: node.prim, params: { ...(node.params as object) }, inputs: args, out: declare(t) });
  }
  graph.outputs = outputs.map((t) => names.get(t)?.name ?? literal(t) ?? nameOf(t).name);
  return graph;
}

/**
 * `graph(f)(...args)`: the primitives `f` applies to its arguments' tensors, as a PrimGraph whose
 * `toString()` prints one line per primitive with its output's dtype and shape (see the header).
 */
export function graph<A extends unknown[]>(f: (...args: A) => unknown): (...args: A) => PrimGraph {
  if (typeof f !== 'function') throw new WgradError('graph', `expected a function, got ${typeof f}`);
  return (...args) => {
    const data = tidy(() => withTracing(() => withEveryDTypeRecorded(() => {
      const leaves: Tensor[] = [];
      const traced = args.map((a) => treeMap(a, (t) => {
        const l = alias(t);
        l._leaf = true;
        leaves.push(l);
        return l;
      })) as A;
      const outputs = treeLeaves(f(...traced)).map(([, t]) => t);
      if (!outputs.length) throw new WgradError('graph', 'the function returned no tensor: there is no graph to print');
      for (const t of outputs) t._check('graph');
      return readGraph(leaves, outputs);
    })));
    return { ...data, toString: () => graphText(data) };
  };
}

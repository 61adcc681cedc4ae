/**
 * The debugging aids: `debug.graph` (src/autograd/graph.ts) prints the primitives of a traced
 * function, forward and backward; `init({ dumpKernels })` / WGRAD_DUMP (src/backends/webgpu/
 * kernel-dump.ts, dump-dir.ts) writes each compiled kernel's WGSL and each submit's dispatch list.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as wg from '../src/node.js';
import type { DumpedCommand } from '../src/node.js';

const text = (s: string) => s.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n').map((l) => l.slice(4)).join('\n');

describe('debug.graph', () => {
  it('prints one line per primitive with its dtype and shape, constants as literals', async () => {
    await wg.init({ backend: 'cpu' });
    const f = (x: wg.Tensor, w: wg.Tensor) => wg.sum(wg.tanh(wg.add(wg.matmul(x, w), 1)), 1);
    const g = wg.debug.graph(f)(wg.ones([4, 3]), wg.ones([3, 2]));
    expect(String(g)).toBe(text(`
    { lambda ; a:f32[4,3] b:f32[3,2]. let
        c:f32[4,2] = matmul a b
        d:f32[4,2] = add c 1.0:f32[]
        e:f32[4,2] = tanh d
        f:f32[4] = sum[axes=[1]] e
      in (f) }
    `));
    expect(g.equations.map((e) => e.prim)).toEqual(['matmul', 'add', 'tanh', 'sum']);
    expect(g.inputs.map((v) => v.shape)).toEqual([[4, 3], [3, 2]]);
  });

  it('prints the backward pass of a gradient transform, bool and integer steps included', async () => {
    await wg.init({ backend: 'cpu' });
    const x = wg.tensor([1, -2, 3]);
    const relu = (v: wg.Tensor) => wg.sum(wg.where(wg.greater(v, 0), v, 0));
    wg.debug.graph(wg.valueAndGrad(relu))(x); // caches the scalar constants 0 and 1 (they stay)
    const before = wg.memoryStats().tensors;
    const g = wg.debug.graph(wg.valueAndGrad(relu))(x);
    expect(String(g)).toBe(text(`
    { lambda f:f32[3] ; a:f32[3]. let
        b:f32[3] = reshape[shape=[3]] a
        c:bool[3] = gt b 0.0:f32[]
        d:f32[3] = where c b 0.0:f32[]
        e:f32[] = sum[axes=[0]] d
        g:f32[3] = where c f 0.0:f32[]
      in (e, g) }
    `));
    // f is the seed of ones broadcast to [3]: computed from no argument, so a constant (see graph.ts).
    // Integer steps are recorded for the printout, yet receive no cotangent (only float32 has one).
    const h = wg.debug.graph(wg.grad((v: wg.Tensor) => wg.sum(wg.mul(v, wg.cast(wg.cast(v, 'int32'), 'float32')))))(x);
    expect(h.equations.map((e) => `${e.prim}:${e.out.dtype}`)).toContain('cast:int32');
    expect(wg.memoryStats().tensors).toBe(before); // nothing the trace made survives it
  });

  it('refuses a non-function and a function that returns no tensor', async () => {
    await wg.init({ backend: 'cpu' });
    expect(() => wg.debug.graph(3 as never)).toThrow(/graph: expected a function, got number/);
    expect(() => wg.debug.graph(() => 1)()).toThrow(/graph: the function returned no tensor/);
  });
});

describe('kernel dump', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'wgrad-dump-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes the WGSL of a fused kernel and the dispatch list of its submit (WebGPU)', async () => {
    const dir = join(tmp(), 'dump');
    await wg.init({ backend: 'webgpu', dumpKernels: dir });
    const x = wg.tensor([1, 2, 3, 4]);
    expect(Array.from(await wg.add(wg.mul(wg.tanh(x), 2), 1).data())).toHaveLength(4);
    const kernels = readdirSync(join(dir, 'kernels'));
    expect(kernels).toHaveLength(1); // tanh, mul and add fused into one kernel
    const wgsl = readFileSync(join(dir, 'kernels', kernels[0]), 'utf8');
    expect(wgsl).toMatch(/^\/\/ key: ew.*tanh.*mul.*add/);
    expect(wgsl).toContain('@compute');
    expect(readdirSync(join(dir, 'submits'))).toEqual(['0001.txt']);
    expect(readFileSync(join(dir, 'submits', '0001.txt'), 'utf8')).toBe(
      '# submit 1: 1 dispatch\n' +
      `  0  ${kernels[0]}  workgroups [1, 1, 1]  bindings [in 16 B, in 4 B, in 4 B, out 16 B]  uniforms 32 B\n` +
      '  1  readback 16 B\n',
    );
  });

  it('takes WGRAD_DUMP and a sink; ignores WGRAD_DUMP and refuses the option on the CPU', async () => {
    const dir = tmp();
    process.env.WGRAD_DUMP = dir;
    try {
      await wg.init({ backend: 'cpu' }); // the variable is for WebGPU runs; other backends ignore it
      await wg.init({ backend: 'webgpu' });
      await wg.sum(wg.tensor([1, 2])).item();
      expect(readdirSync(join(dir, 'kernels')).length).toBe(1);
    } finally {
      delete process.env.WGRAD_DUMP;
    }
    const seen: { kernels: string[]; submits: DumpedCommand[][] } = { kernels: [], submits: [] };
    await wg.init({ backend: 'webgpu', dumpKernels: { kernel: (key) => seen.kernels.push(key), submit: (_, c) => seen.submits.push([...c]) } });
    await wg.sum(wg.tensor([1, 2])).item();
    expect(seen.kernels).toHaveLength(1);
    expect(seen.submits).toEqual([[expect.objectContaining({ kind: 'dispatch', key: seen.kernels[0], readOnly: 1 }), { kind: 'readback', bytes: 4 }]]);
    await expect(wg.init({ backend: 'cpu', dumpKernels: tmp() })).rejects.toThrow(/init: dumpKernels needs the WebGPU backend: the cpu backend compiles no WGSL kernels/);
  });
});

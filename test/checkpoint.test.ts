/**
 * Checkpoints in safetensors: pytree round trip, the byte format (a hand-built vector, and Python's
 * reader when python3 with numpy is available), corrupted and truncated files, atomic writes, and
 * resuming training (SGD with momentum) bit for bit. CPU backend.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, memoryStats } from '../src/init.js';
import * as io from '../src/io/node.js';
import * as random from '../src/random/random.js';
import * as optim from '../src/optim/index.js';
import * as mlp from '../src/nn/mlp.js';
import { tensor, zeros } from '../src/tensor/ops/creation.js';
import { mean, sum } from '../src/tensor/ops/reduce.js';
import { mul, neg } from '../src/tensor/ops/elementwise.js';
import { oneHot, take } from '../src/tensor/ops/movement.js';
import { logSoftmax } from '../src/tensor/ops/nn.js';
import { valueAndGrad } from '../src/autograd/transforms.js';
import { dispose, tidy } from '../src/tensor/scope.js';
import { treeLeaves } from '../src/tensor/tree.js';
import { Tensor } from '../src/tensor/tensor.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every tensor leaf's dtype, shape and bytes, for exact comparison. */
async function snapshot(tree: unknown): Promise<[string, string, number[], number[]][]> {
  return Promise.all(treeLeaves(tree).map(async ([p, t]) => {
    const d = await t.data();
    return [p, t.dtype, [...t.shape], Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))] as [string, string, number[], number[]];
  }));
}

function sampleTree() {
  return {
    params: { layers: [{ w: tensor([[1.5, -2], [0, -0]]), b: tensor([Number.NaN, Infinity]) }, { w: tensor([[3]]) }] },
    opt: [{ trace: { w: tensor([0.25, 0.5]) } }, { count: 7 }],
    bn: { mean: zeros([3]), var: tensor([1, 1, 1]), count: tensor([5], { dtype: 'uint32' }) },
    mask: tensor([true, false, true]),
    labels: tensor([-3, 4], { dtype: 'int32' }),
    scalar: tensor(2.5),
    empty: zeros([0, 4]),
    step: 1234,
    key: random.key(99),
    config: { lr: 0.1, name: 'run-1', nested: { widths: [4, 8, 2], flag: true, none: null, gone: undefined, nan: Number.NaN, negZero: -0, $weird: 'dollar' } },
  };
}

describe('safetensors', () => {
  it('round-trips a nested pytree (tensors of every dtype, numbers, strings, config)', async () => {
    const tree = sampleTree();
    const bytes = await io.serializeTree(tree, { metadata: { note: 'hello' } });
    const before = memoryStats().tensors;
    const { tree: back, metadata } = io.deserializeTree<typeof tree>(bytes);
    expect(metadata.note).toBe('hello');
    expect(metadata.format).toBe('wgrad');
    expect(await snapshot(back)).toEqual(await snapshot(tree));
    expect(back.step).toBe(1234);
    expect(back.key).toEqual([...random.key(99)]);
    expect(back.opt[1]).toEqual({ count: 7 });
    const { nan, negZero, ...rest } = back.config.nested;
    expect(rest).toEqual({ widths: [4, 8, 2], flag: true, none: null, gone: undefined, $weird: 'dollar' });
    expect('gone' in back.config.nested).toBe(true);
    expect(Number.isNaN(nan)).toBe(true);
    expect(Object.is(negZero, -0)).toBe(true);
    expect(back.mask.dtype).toBe('bool');
    expect(back.bn.count.dtype).toBe('uint32');
    expect(back.scalar.shape).toEqual([]);
    expect(back.empty.shape).toEqual([0, 4]);
    expect(memoryStats().tensors - before).toBe(treeLeaves(back).length);
    dispose([tree, back]);
  });

  it('writes the documented bytes (hand-built vector)', async () => {
    const t = { a: tensor([1, 2]), b: { c: tensor([7], { dtype: 'int32' }) } };
    const got = await io.serializeTree(t);
    const tree = JSON.stringify({ a: { $tensor: 'a' }, b: { c: { $tensor: 'b.c' } } });
    let json = JSON.stringify({
      __metadata__: { format: 'wgrad', 'wgrad.version': '1', 'wgrad.tree': tree },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      'b.c': { dtype: 'I32', shape: [1], data_offsets: [8, 12] },
    });
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const want = new Uint8Array(8 + json.length + 12);
    new DataView(want.buffer).setUint32(0, json.length, true);
    want.set(new TextEncoder().encode(json), 8);
    want.set([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7, 0, 0, 0], 8 + json.length);
    expect(Array.from(got)).toEqual(Array.from(want));
    dispose(t);
  });

  it('reads a file from another writer (flat names, no padding, BOOL)', async () => {
    const json = '{"x":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]},"y":{"dtype":"U32","shape":[1],"data_offsets":[3,7]}}';
    const bytes = new Uint8Array(8 + json.length + 7);
    bytes[0] = json.length;
    bytes.set(new TextEncoder().encode(json), 8);
    bytes.set([1, 0, 1, 0xff, 0xff, 0xff, 0xff], 8 + json.length);
    const { tree } = io.deserializeTree<{ x: Tensor; y: Tensor }>(bytes);
    expect(Array.from(await tree.x.data())).toEqual([1, 0, 1]);
    expect(Array.from(await tree.y.data())).toEqual([0xffffffff]);
    dispose(tree);
  });

  it('is readable from Python (numpy), when python3 is available', async (ctx) => {
    const python = (() => {
      try {
        execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (!python) ctx.skip('python3 with numpy is not available');
    const tree = sampleTree();
    const path = join(dir, 'py.safetensors');
    await io.saveCheckpoint(path, tree);
    // safetensors' own reader when installed, else a direct reading of the format with numpy.
    const script = `
import json, struct, sys, numpy as np
path = sys.argv[1]
try:
    from safetensors.numpy import load_file
    arrays = load_file(path)
    meta = None
except ImportError:
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop('__metadata__')
    data = raw[8 + n:]
    types = {'F32': '<f4', 'I32': '<i4', 'U32': '<u4', 'BOOL': '?'}
    arrays = {}
    for name, e in header.items():
        b, end = e['data_offsets']
        arrays[name] = np.frombuffer(data[b:end], dtype=types[e['dtype']]).reshape(e['shape'])
out = {k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'values': [None if x != x else ('inf' if x == float('inf') else x) for x in v.astype(float).ravel().tolist()]} for k, v in arrays.items()}
print(json.dumps({'arrays': out, 'tree': json.loads(meta['wgrad.tree']) if meta else None}, allow_nan=False))
`;
    const out = JSON.parse(execFileSync('python3', ['-c', script, path]).toString());
    expect(out.arrays['params.layers[0].w']).toEqual({ dtype: 'float32', shape: [2, 2], values: [1.5, -2, 0, -0] });
    expect(out.arrays['params.layers[0].b'].values).toEqual([null, 'inf']);
    expect(out.arrays['labels']).toEqual({ dtype: 'int32', shape: [2], values: [-3, 4] });
    expect(out.arrays['mask']).toEqual({ dtype: 'bool', shape: [3], values: [1, 0, 1] });
    expect(out.arrays['bn.count']).toEqual({ dtype: 'uint32', shape: [1], values: [5] });
    expect(out.arrays['scalar']).toEqual({ dtype: 'float32', shape: [], values: [2.5] });
    expect(out.arrays['empty'].shape).toEqual([0, 4]);
    if (out.tree) expect(out.tree.step).toBe(1234);
    dispose(tree);
  });

  it('rejects corrupted and truncated files with clear errors, leaking nothing', async () => {
    const tree = { a: tensor([1, 2, 3]), b: tensor([4]) };
    const good = await io.serializeTree(tree);
    const path = join(dir, 'bad.safetensors');
    const n = new DataView(good.buffer).getUint32(0, true);
    const headerText = new TextDecoder().decode(good.subarray(8, 8 + n));
    const before = memoryStats().tensors;
    const load = async (bytes: Uint8Array) => {
      writeFileSync(path, bytes);
      return io.loadCheckpoint(path);
    };
    await expect(load(good.subarray(0, 5))).rejects.toThrow(/bad\.safetensors: truncated: 5 bytes/);
    await expect(load(good.subarray(0, 40))).rejects.toThrow(/bad header length \d+: only 32 bytes follow it/);
    await expect(load(good.subarray(0, good.length - 1))).rejects.toThrow(/offsets out of range: tensor "b" ends at byte 16 of a data section of 15 bytes \(truncated file\?\)/);
    const badJson = good.slice();
    badJson[8] = 0x5b; // '{' → '['
    await expect(load(badJson)).rejects.toThrow(/bad JSON header/);
    const badShape = good.slice();
    badShape.set(new TextEncoder().encode(headerText.replace('"shape":[3]', '"shape":[2]')), 8);
    await expect(load(badShape)).rejects.toThrow(/size mismatch: tensor "a" \(F32 \[2\]\) needs 8 bytes, its data_offsets \[0, 12\] span 12/);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    await expect(load(extra)).rejects.toThrow(/size mismatch: the tensors cover 16 bytes but the data section has 20/);
    const badDtype = good.slice();
    badDtype.set(new TextEncoder().encode(headerText.replace('"dtype":"F32"', '"dtype":"F16"')), 8);
    await expect(load(badDtype)).rejects.toThrow(/tensor "a" has dtype F16; wgrad reads F32, I32, U32 and BOOL/);
    const badTree = good.slice();
    badTree.set(new TextEncoder().encode(headerText.replace('\\"$tensor\\":\\"b\\"', '\\"$tensor\\":\\"z\\"')), 8);
    await expect(load(badTree)).rejects.toThrow(/refers to tensor "z", which the file does not hold/);
    await expect(io.loadCheckpoint(join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot read .*missing\.safetensors/);
    expect(memoryStats().tensors).toBe(before);
    // Unsupported leaves are refused when saving.
    await expect(io.serializeTree({ a: new Float32Array(2) })).rejects.toThrow(/cannot store the Float32Array at a/);
    dispose(tree);
  });

  it('writes atomically: a failed save leaves the previous checkpoint intact', async () => {
    const path = join(dir, 'atomic.safetensors');
    const v1 = { w: tensor([1, 2, 3]), step: 1 };
    await io.saveCheckpoint(path, v1);
    const original = readFileSync(path);
    // Failure before any byte is written (a disposed tensor).
    const gone = tensor([9]);
    gone.dispose();
    await expect(io.saveCheckpoint(path, { w: gone, step: 2 })).rejects.toThrow(/was disposed/);
    // Failure at the rename, after the temporary file was written and synced.
    const spy = vi.spyOn(fsp, 'rename').mockRejectedValueOnce(new Error('EIO: simulated crash'));
    const v2 = { w: tensor([4, 5, 6]), step: 2 };
    await expect(io.saveCheckpoint(path, v2)).rejects.toThrow(/cannot write .*atomic\.safetensors: EIO: simulated crash/);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(readFileSync(path).equals(original)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);
    const { tree } = await io.loadCheckpoint<typeof v1>(path);
    expect(Array.from(await tree.w.data())).toEqual([1, 2, 3]);
    // And a successful save replaces it.
    await io.saveCheckpoint(path, v2);
    const { tree: t2 } = await io.loadCheckpoint<typeof v2>(path);
    expect(t2.step).toBe(2);
    dispose([v1, v2, tree, t2]);
  });
});

describe('resuming from a checkpoint', () => {
  type State = { params: mlp.MlpParams; opt: unknown; step: number; key: random.Key; config: { widths: number[]; lr: number; momentum: number; batch: number } };

  it('continues training exactly as if it had never stopped (bitwise, SGD with momentum)', async () => {
    const [kx, ky, kp, kd] = random.split(random.key(2024), 4);
    const x = random.normal(kx, [64, 6]);
    const y = random.randint(ky, [64], 0, 3);
    const config = { widths: [6, 16, 3], lr: 0.05, momentum: 0.9, batch: 16 };
    const opt = optim.sgd({ lr: config.lr, momentum: config.momentum });
    const loss = (p: mlp.MlpParams, xb: Tensor, yb: Tensor) =>
      neg(mean(sum(mul(logSoftmax(mlp.apply(p, xb)), oneHot(yb, 3)), -1)));
    const step = (s: State): State => {
      const next = tidy(() => {
        const idx = random.randint(random.foldIn(s.key, s.step), [s.config.batch], 0, 64);
        const [, g] = valueAndGrad(loss)(s.params, take(x, idx), take(y, idx));
        const [updates, optState] = (opt as optim.GradientTransformation<unknown>).update(g, s.opt, s.params);
        return { params: optim.applyUpdates(s.params, updates), opt: optState };
      });
      dispose([s.params, s.opt]);
      return { ...s, ...next, step: s.step + 1 };
    };
    const fresh = (): State => {
      const params = mlp.init(kp, { widths: config.widths });
      return { params, opt: opt.init(params), step: 0, key: kd, config };
    };

    let a = fresh();
    for (let i = 0; i < 10; i++) a = step(a);

    let b = fresh();
    for (let i = 0; i < 5; i++) b = step(b);
    const path = join(dir, 'resume.safetensors');
    await io.saveCheckpoint(path, b);
    dispose(b);
    let c = (await io.loadCheckpoint<State>(path)).tree;
    expect(c.step).toBe(5);
    expect(c.config).toEqual(config);
    for (let i = 0; i < 5; i++) c = step(c);

    expect(c.step).toBe(10);
    expect(await snapshot(c.params)).toEqual(await snapshot(a.params));
    expect(await snapshot(c.opt)).toEqual(await snapshot(a.opt));
    expect(JSON.stringify(c.opt, (k, v) => (v instanceof Tensor ? 'T' : v))).toBe(JSON.stringify(a.opt, (k, v) => (v instanceof Tensor ? 'T' : v)));
    // Training moved the parameters.
    const p0 = fresh();
    expect(await snapshot(p0.params)).not.toEqual(await snapshot(a.params));
    dispose([a, c, p0, x, y]);
  });
});

/**
 * Runtime hardening (issue 7): a failed op or a failed kernel surfaces once, attributed, and leaves
 * the runtime usable and memory unchanged; tensors of a replaced backend say so; checkpoint trees
 * cannot smuggle in a prototype; CSV numbers outside float32 are errors naming line and column.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as wg from '../src/node.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { KernelSpec, GpuStorage } from '../src/kernels/runtime.js';
import { backend } from '../src/tensor/engine.js';

const runtime = () => (backend() as WebGpuBackend).runtime;

/** Memory counters after everything pending has run. */
async function settled() {
  await wg.sync();
  const { tensors, liveBuffers, liveBytes } = wg.memoryStats();
  return { tensors, liveBuffers, liveBytes };
}

/** A small op chain whose values are checked: the device still works. */
async function stillWorks(): Promise<void> {
  const [b, s] = wg.tidy(() => {
    const b = wg.mul(wg.add(wg.tensor([1, 2, 3]), 1), 2);
    return [b, wg.sum(wg.exp(wg.neg(b)))];
  });
  expect(Array.from(await b.data())).toEqual([4, 6, 8]);
  expect(await s.item()).toBeCloseTo(Math.exp(-4) + Math.exp(-6) + Math.exp(-8), 6);
  wg.dispose([b, s]);
}

describe('WebGPU with fusion: a failed value does not poison the device', () => {
  beforeAll(async () => {
    await wg.init({ backend: 'webgpu', fusion: true });
    // Warm up the constant cache (scalar constants stay alive by design).
    wg.zeros([2]).dispose();
    await stillWorks();
  });

  test('zeros too large for a storage buffer throws at the call, naming zeros, the size and the limit', async () => {
    const before = await settled();
    const limit = runtime().maxBindingBytes;
    let err: unknown;
    try {
      wg.zeros([40000, 1000]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(wg.WgradError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^zeros: /);
    expect(msg).toContain('[40000, 1000]');
    expect(msg).toContain('160000000 bytes');
    expect(msg).toContain(`${limit} bytes`);
    // Every later op works, and nothing leaked.
    await stillWorks();
    await stillWorks();
    expect(await settled()).toEqual(before);
  });

  test('a fused elementwise op with a too-large broadcast result throws at that op', async () => {
    const row = wg.tensor(new Float32Array(1000).fill(1), { shape: [1, 1000] });
    wg.add(row, 1).dispose();
    const before = await settled();
    const big = wg.broadcastTo(row, [40000, 1000]); // a view: no memory
    expect(() => wg.add(big, 1)).toThrow(/^add: the result \(float32 \[40000, 1000\].*exceeds the device's maximum storage buffer binding size/);
    // A reduction of the view needs no large buffer and still works.
    const s = wg.sum(big);
    expect(await s.item()).toBe(40000 * 1000);
    wg.dispose([big, s]);
    await stillWorks();
    expect(await settled()).toEqual(before);
    row.dispose();
  });

  test('oneHot with a NaN depth, and a failed read inside a helper, leave later ops working', async () => {
    const labels = wg.tensor([0, 1], { dtype: 'int32' });
    expect(() => wg.oneHot(labels, NaN)).toThrow(wg.WgradError);
    const helper = async () => {
      const v = wg.zeros([50000, 1000]); // never returned: the caller cannot dispose it
      return v.array();
    };
    await expect(helper()).rejects.toThrow(/^zeros: /);
    labels.dispose();
    await stillWorks();
  });

  test('a kernel that fails while a fused value is realized: the error names its op once; later ops work', async () => {
    const rt = runtime();
    const x = wg.tensor([0.5, 1, 2]);
    await x.data();
    const before = await settled();
    const dispatch = rt.dispatch.bind(rt);
    let failures = 0;
    // Every fused kernel that computes log1p fails (as a kernel the device rejects would).
    rt.dispatch = (spec: KernelSpec, buffers: GpuStorage[]) => {
      if (spec.key.startsWith('ew:') && spec.key.includes('log1p')) {
        failures++;
        throw new wg.WgradError(`kernel ${spec.key}`, 'simulated kernel failure');
      }
      dispatch(spec, buffers);
    };
    try {
      (() => {
        wg.log1p(x); // unreachable once this helper returns: only the runtime holds it
      })();
      // sync realizes every pending value: the failure surfaces here, once, naming log1p.
      await expect(wg.sync()).rejects.toThrow(/^log1p: computing its fused float32 \[3\] result failed: .*simulated kernel failure/);
      expect(failures).toBe(1);
      await wg.sync();
      await stillWorks();
      const y = wg.add(x, 1);
      expect(Array.from(await y.data())).toEqual([1.5, 2, 3]);
      expect(failures).toBe(1);
      y.dispose();
      // A reachable failed value throws its own error when used, and nothing else does.
      // Realized on the way by an unrelated op (after a submit): that op still works, and the
      // error comes once, at the next read.
      const pending = wg.log1p(x);
      const total = wg.sum(x);
      expect(await total.item()).toBeCloseTo(3.5, 6); // the read submits a batch
      const unrelated = wg.mul(x, 2); // realizes everything pending first
      expect(failures).toBe(2);
      await expect(total.item()).rejects.toThrow(/^log1p: .*simulated kernel failure/);
      expect(await total.item()).toBeCloseTo(3.5, 6);
      expect(Array.from(await unrelated.data())).toEqual([1, 2, 4]);
      await expect(pending.data()).rejects.toThrow(/^log1p: .*simulated kernel failure/);
      await stillWorks();
      wg.dispose([pending, unrelated, total]);
      const e = wg.log1p(x);
      await expect(e.data()).rejects.toThrow(/^log1p: .*simulated kernel failure/);
      await expect(e.data()).rejects.toThrow(/^log1p: .*simulated kernel failure/);
      await stillWorks();
      e.dispose();
    } finally {
      rt.dispatch = dispatch;
    }
    // The failed values freed their output buffers and the references to their inputs.
    const after = await settled();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    x.dispose();
  });

  test('a buffer the device fails to create (out of memory) is reported once, naming the op, and never reused', async () => {
    const rt = runtime();
    const device = rt.device;
    const createBuffer = device.createBuffer.bind(device);
    const n = 3000; // a bucket of 12288 bytes that no other test uses
    const x = wg.tensor(new Float32Array(n).fill(1));
    await x.data();
    rt.trimPool();
    let armed = true;
    // The next new buffer of that bucket is invalid, as after an out-of-memory error.
    device.createBuffer = (d: GPUBufferDescriptor) => {
      if (armed && d.size === 12288) {
        armed = false;
        return createBuffer({ ...d, size: 2 ** 40 });
      }
      return createBuffer(d);
    };
    try {
      const y = wg.exp(x);
      await expect(y.data()).rejects.toThrow(/^exp: allocating a GPU buffer of 12288 bytes failed/);
      y.dispose();
      // The same op again gets a valid buffer (the invalid one was destroyed, not pooled).
      for (let i = 0; i < 3; i++) {
        const z = wg.exp(x);
        expect((await z.data())[0]).toBeCloseTo(Math.E, 5);
        z.dispose();
      }
      await stillWorks();
    } finally {
      device.createBuffer = createBuffer;
      x.dispose();
    }
  });

  test('a validation error inside a batch names its kernels once; the buffer it names is never reused', async () => {
    const x = wg.tensor(new Float32Array(777).fill(1));
    await x.data();
    // A buffer destroyed behind wgrad's back (as after a device-side failure).
    (x._ref.storage as GpuStorage).buffer.destroy();
    const y = wg.exp(x);
    await expect(y.data()).rejects.toThrow(/used in submit while destroyed.*\(batch kernels: ew:.*exp/s);
    wg.dispose([x, y]);
    for (let i = 0; i < 3; i++) {
      const [z, w] = wg.tidy(() => {
        const z = wg.tensor(new Float32Array(777).fill(2)); // the same pool bucket as x
        return [z, wg.exp(z)];
      });
      expect((await w.data())[0]).toBeCloseTo(Math.exp(2), 5);
      wg.dispose([z, w]);
    }
    await stillWorks();
  });

  test('every value written by a failed batch raises when read or used, not only the first read', async () => {
    const x = wg.tensor(new Float32Array(777).fill(1));
    const a = wg.tensor([1, 2, 3]);
    await Promise.all([x.data(), a.data()]);
    (x._ref.storage as GpuStorage).buffer.destroy();
    // Three outputs of the same batch; only y touches the destroyed buffer, but WebGPU runs none of it.
    const y = wg.exp(x);
    const u = wg.mul(wg.add(a, 1), 3);
    const v = wg.sum(wg.neg(a));
    // sync realizes the fused values and submits them as one batch, which fails: reported once here.
    await expect(wg.sync()).rejects.toThrow(/used in submit while destroyed/);
    // Before the fix these returned the never-written buffers' contents (zeros) silently.
    await expect(y.data()).rejects.toThrow(/computed by a GPU batch that failed/);
    await expect(u.data()).rejects.toThrow(/computed by a GPU batch that failed.*used in submit while destroyed/s);
    await expect(v.item()).rejects.toThrow(wg.WgradError);
    await expect(u.data()).rejects.toThrow(wg.WgradError); // every read, not once
    await expect((async () => wg.exp(u).data())()).rejects.toThrow(/computed by a GPU batch that failed/);
    // Values of other batches, and fresh ops, are fine.
    expect(Array.from(await a.data())).toEqual([1, 2, 3]);
    const w = wg.mul(wg.add(a, 1), 3);
    expect(Array.from(await w.data())).toEqual([6, 9, 12]);
    wg.dispose([x, a, y, u, v, w]);
    await stillWorks();
  });

  test('a value computed in a later batch from the output of a failed batch, before the failure was known, raises too', async () => {
    const x = wg.tensor(new Float32Array(777).fill(1));
    await x.data();
    (x._ref.storage as GpuStorage).buffer.destroy();
    const y = wg.exp(x);
    backend().flush(); // batch 1 (fails; its error arrives asynchronously)
    const z = wg.add(y, 1);
    backend().flush(); // batch 2 succeeds, but reads batch 1's garbage
    await expect(wg.sync()).rejects.toThrow(/used in submit while destroyed/);
    await expect(z.data()).rejects.toThrow(/computed by a GPU batch that failed.*used in submit while destroyed/s);
    wg.dispose([x, y, z]);
    await stillWorks();
  });
});

describe('a failed op leaks nothing (outside tidy)', () => {
  beforeAll(async () => {
    await wg.init({ backend: 'cpu' });
    wg.zeros([2]).dispose();
  });

  test('matmul of 1-D operands with different lengths, and other ops failing after making views', async () => {
    const a = wg.tensor([1, 2, 3]);
    const b = wg.tensor([1, 2]);
    const m = wg.tensor([[1, 2], [3, 4]]);
    const before = wg.memoryStats();
    expect(() => wg.matmul(a, b)).toThrow(/^matmul: inner dimensions differ/);
    expect(wg.memoryStats()).toEqual(before);
    expect(() => wg.matmul(m, a)).toThrow(/^matmul: /);
    expect(wg.memoryStats()).toEqual(before);
    // stack makes a view of each operand before concat finds that the shapes differ.
    expect(() => wg.stack([a, b])).toThrow(wg.WgradError);
    expect(wg.memoryStats()).toEqual(before);
    wg.dispose([a, b, m]);
  });

  test('a failing op inside a traced function leaves the tracing state intact', async () => {
    const f = (x: wg.Tensor) => {
      try {
        wg.matmul(x, wg.tensor([1, 2]));
      } catch {
        /* expected */
      }
      return wg.sum(wg.mul(x, x));
    };
    const g = wg.grad(f)(wg.tensor([1, 2, 3]));
    expect(Array.from(await g.data())).toEqual([2, 4, 6]);
  });
});

describe('WebGPU: a failed op leaks nothing', () => {
  beforeAll(async () => {
    await wg.init({ backend: 'webgpu' });
    wg.zeros([2]).dispose();
    wg.ones([2], 'int32').dispose();
  });

  test('a too-large zeros leaves live tensors and buffers as they were', async () => {
    const before = await settled();
    expect(() => wg.zeros([40000, 1000])).toThrow(/^zeros: /);
    expect(() => wg.ones([40000, 1000], 'int32')).toThrow(/^ones: /);
    expect(await settled()).toEqual(before);
  });
});

describe('tensors of a previous init()', () => {
  afterAll(async () => {
    await wg.init({ backend: 'cpu' });
  });

  test('using one after init() again says it belongs to a previous init(), naming the op', async () => {
    await wg.init({ backend: 'webgpu' });
    const old = wg.tensor([1, 2]);
    await wg.init({ backend: 'webgpu' });
    const fresh = wg.tensor([3, 4]);
    expect(() => wg.add(old, fresh)).toThrow(/^add: tensor #\d+ \(float32 \[2\]\) belongs to a previous init\(\)/);
    expect(() => wg.add(fresh, old)).toThrow(/^add: tensor #\d+ \(float32 \[2\]\) belongs to a previous init\(\)/);
    expect(() => wg.exp(old)).toThrow(/^exp: .*belongs to a previous init\(\)/);
    await expect(old.data()).rejects.toThrow(/^data: .*belongs to a previous init\(\)/);
    old.dispose(); // still safe
    expect(Array.from(await fresh.data())).toEqual([3, 4]);
    fresh.dispose();
  });
});

/** Safetensors bytes of a header object and a data section. */
function safetensors(header: object, data: Uint8Array): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const h = new Uint8Array(padded).fill(0x20);
  h.set(json);
  json = h;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('checkpoint trees cannot replace a prototype', () => {
  beforeAll(async () => {
    await wg.init({ backend: 'cpu' });
  });

  const f32 = new Uint8Array(new Float32Array([1, 2]).buffer);
  const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  test.each([
    ['{"w":{"$tensor":"w"},"$__proto__":{"w":{"$tensor":"w"}}}', '__proto__'],
    ['{"inner":{"$__proto__":[1,2]},"w":{"$tensor":"w"}}', '__proto__'],
    ['{"w":{"$tensor":"w"},"constructor":1}', 'constructor'],
    ['{"w":{"$tensor":"w"},"prototype":{"a":1}}', 'prototype'],
  ])('tree %s is refused before any tensor is created', (tree, key) => {
    const bytes = safetensors({ __metadata__: { format: 'wgrad', 'wgrad.version': '1', 'wgrad.tree': tree }, w: entry }, f32);
    const before = wg.memoryStats();
    expect(() => wg.io.deserializeTree(bytes, { name: 'evil.safetensors' })).toThrow(new RegExp(`evil\\.safetensors.*the key "${key}" is not allowed`));
    expect(wg.memoryStats()).toEqual(before);
  });

  test('a flat file (no wgrad.tree) with a tensor named __proto__ is refused', () => {
    // JSON.parse makes "__proto__" an own key (an object literal would set the prototype instead).
    const bytes = safetensors(JSON.parse(`{"__proto__":${JSON.stringify(entry)}}`), f32);
    const before = wg.memoryStats();
    expect(() => wg.io.deserializeTree(bytes)).toThrow(/tensor name: the key "__proto__" is not allowed/);
    expect(wg.memoryStats()).toEqual(before);
  });

  test('serializeTree refuses such keys too, and a normal tree round-trips', async () => {
    const w = wg.tensor([1, 2]);
    const evil = JSON.parse('{"__proto__": {"x": 1}}');
    await expect(wg.io.serializeTree({ w, config: evil })).rejects.toThrow(/serializeTree: config: the key "__proto__" is not allowed/);
    const { tree } = wg.io.deserializeTree<{ w: wg.Tensor; $x: number }>(await wg.io.serializeTree({ w, $x: 3 }));
    expect(Object.getPrototypeOf(tree)).toBe(Object.prototype);
    expect(tree.$x).toBe(3);
    expect(Array.from(await tree.w.data())).toEqual([1, 2]);
    wg.dispose([w, tree]);
  });
});

describe('CSV numbers outside float32', () => {
  test('1e400 (Infinity in JS) is an error naming the line and the column, in training and in encoding', () => {
    const train = 'x,y,label\n1,2,a\n3,1e400,b\n5,6,a\n';
    expect(() => wg.io.fitTabular(train, { label: 'label' })).toThrow(/line 3, column "y" \(2\): "1e400" is outside the float32 range/);
    const schema = wg.io.fitTabular('x,y,label\n1,2,a\n3,4,b\n', { label: 'label' });
    expect(() => wg.io.encodeTabular(schema, 'x,y,label\n1,2,a\n-1e39,4,b\n')).toThrow(/line 3, column "x" \(1\): "-1e39" is outside the float32 range/);
    expect(() => wg.io.fitTabular('x,t\n1,2\n2,1e999\n', { label: 't', task: 'regression' })).toThrow(/line 3, column "t" \(2\): "1e999" is outside/);
    // The largest float32 values are fine.
    const ok = wg.io.encodeTabular(wg.io.fitTabular('x,label\n3e38,a\n-3e38,b\n', { label: 'label' }), 'x,label\n3e38,a\n');
    expect(Number.isFinite(ok.x[0])).toBe(true);
  });
});

/**
 * A peer's process: starts one peer library (peers.ts) and runs the rows the runner asks for, one
 * message at a time (peer-client.ts is the other end). Times its own runs, so that the message
 * round trip is not counted.
 *
 *   node --import tsx bench/peer-worker.ts <peer id> '<json: { quick, dawnFlags, gpuTime }>'
 */
import type { Group, RowSpec, SideImpl, SpanTimer } from './harness.js';
import { GROUPS } from './harness.js';
import { gpuTimer, setDawnFlags } from './gpu.js';
import { describePeer, PEER_DEFS, PEERS, type PeerId, startPeer } from './peers.js';
import type { Ctx } from './suite/context.js';
import { BUILDERS } from './suite/rows.js';

export interface WorkerOptions {
  quick: boolean;
  trainBatch?: number;
  /** Dawn flags beyond the default ones (gpu.ts). */
  dawnFlags: string[];
  gpuTime: boolean;
}

export type Request = { seq: number; op: 'make'; row: string } | { seq: number; op: 'check' | 'run' | 'span' | 'dispose' };

const errText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split('\n')[0].slice(0, 300);
const send = (m: unknown) => process.send!(m);

async function main() {
  const id = process.argv[2] as PeerId;
  if (!PEERS.includes(id)) throw new Error(`unknown peer "${id}"; peers: ${PEERS.join(', ')}`);
  const opts = JSON.parse(process.argv[3] ?? '{}') as WorkerOptions;
  const def = PEER_DEFS[id];
  if (def.backend === 'webgpu' && opts.dawnFlags?.length) setDawnFlags(opts.dawnFlags);
  const peer = await startPeer(id);
  const ctx: Ctx = { quick: opts.quick, trainBatch: opts.trainBatch };
  if (peer.kind === 'jax') ctx.jax = peer.h;
  else ctx.tf = peer.h;
  const device = peer.kind === 'jax' ? peer.h.gpuDevice : peer.h.device;
  const span: SpanTimer | undefined = opts.gpuTime ? await gpuTimer(device) : undefined;
  // Rows are built per group on first use (their host data is generated then).
  const groups = new Map<Group, RowSpec[]>();
  const find = (row: string): RowSpec => {
    const g = GROUPS.find((x) => row.startsWith(x === 'memory' ? 'mem.' : `${x}.`));
    if (!g) throw new Error(`no group for row "${row}"`);
    if (!groups.has(g)) groups.set(g, BUILDERS[g](ctx));
    const spec = groups.get(g)!.find((s) => s.id === row);
    if (!spec) throw new Error(`no row "${row}"`);
    return spec;
  };
  let impl: SideImpl | undefined;
  const need = () => {
    if (!impl) throw new Error('no row made');
    return impl;
  };
  const handle = async (m: Request): Promise<unknown> => {
    switch (m.op) {
      case 'make': {
        const spec = find(m.row);
        const make = def.library === 'jax' ? spec.jax : spec.tfjs;
        if (!make) throw new Error(`${def.label} has no implementation of ${spec.id}`);
        impl = await make();
        return null;
      }
      case 'check': return Float32Array.from(await need().check());
      case 'run': {
        const t0 = performance.now();
        await need().run();
        return performance.now() - t0;
      }
      case 'span': {
        if (!span) throw new Error('no GPU timer on this peer');
        let wallMs = 0;
        const gpuMs = await span(async () => {
          const t0 = performance.now();
          await need().run();
          wallMs = performance.now() - t0;
        });
        return { wallMs, gpuMs };
      }
      case 'dispose': {
        const i = impl;
        impl = undefined;
        await i?.dispose();
        return null;
      }
    }
  };
  // The runner went away (it ended or was killed): so does this process.
  process.on('disconnect', () => process.exit(0));
  // One message at a time, in order.
  let queue = Promise.resolve();
  process.on('message', (m: Request) => {
    queue = queue.then(async () => {
      try {
        send({ seq: m.seq, ok: true, value: await handle(m) });
      } catch (e) {
        send({ seq: m.seq, ok: false, error: errText(e) });
      }
    });
  });
  const adapter = peer.kind === 'jax' ? peer.h.adapter : peer.h.adapter;
  send({ ready: true, describe: describePeer(peer), adapter, canSpan: !!span });
}

main().catch((e) => {
  send({ ready: false, error: errText(e) });
  process.exit(1);
});

/** Writing the results: a markdown table, JSON, and a hand-written SVG bar chart of the ratios. */
import type { RowResult, SideResult } from './harness.js';
import { PEERS, peerLabel } from './peers.js';
import { escapeXml as esc } from '../src/eval/svg.js';
import { shapeName, type Roofline } from './roofline.js';

export interface RunInfo {
  date: string;
  mode: 'quick' | 'full';
  command: string;
  node: string;
  cpu: string;
  cores: number;
  loadBefore: number[];
  loadAfter: number[];
  adapter: string;
  wgradBackend: string;
  wgradError?: string;
  /** Each peer's library and adapter, or why it could not start. */
  peers: Record<string, { describe?: string; adapter?: string; error?: string }>;
  /** Rows left out by --deadline. */
  skipped?: string[];
  title?: string;
  timing: string;
  gitCommit: string;
  durationS: number;
  ceilings: {
    numpy?: { python: string; numpy: string; blas: string; threads: number; results: Record<string, { ms: number; gflops: number }> } | { error: string };
    torch?: { python: string; torch: string; threads: number; results: Record<string, { ms?: number; steps_per_s?: number; error?: string }> } | { error: string };
    loadDuring?: number[];
  };
  notes: string[];
  /** Dawn flags of the shared GPU object (robustness on unless `disable_robustness` is among them). */
  dawnFlags?: string[];
  /** The memory roofline measured in this run (bench/roofline.ts) and wgrad's reduction shapes. */
  roofline?: (Roofline & { tuning: string }) | { error: string };
}

/** Fraction of the roofline (memory rows) or of numpy sgemm (GEMM rows) reached by wgrad. */
function ofCeiling(r: RowResult): string {
  const pct = (v: number | undefined) => (v === undefined ? '—' : `${(100 * v).toFixed(v < 0.1 ? 1 : 0)} %`);
  if (r.roofline) return `${pct(r.roofline.wgrad)} roofline`;
  if (r.gemm && r.ceiling) return `${pct(r.ceiling.ratio)} sgemm`;
  return '—';
}

/** The target ratio (wgrad / the fastest peer) of a row. */
export function target(r: Pick<RowResult, 'id' | 'group'>): number {
  if (r.id === 'matmul.1024') return 8;
  if (r.group === 'train') return 8;
  if (r.group === 'dispatch') return 3;
  return 2;
}

const fmt = (v: number | undefined, digits = 3): string => {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 100) return v.toFixed(0);
  return v.toPrecision(digits);
};
const fmtRatio = (v: number | undefined) => (v === undefined ? '—' : v >= 10 ? `${v.toFixed(1)}×` : `${v.toFixed(2)}×`);
const fmtMs = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** A side's cell: its throughput (images/s for training rows), "cannot run", "failed", or — (no implementation). */
function sideCell(r: RowResult, s: SideResult | undefined): string {
  if (!s) return '—';
  if (s.cannot) return 'cannot run';
  if (!s.ok) return 'failed';
  let v = fmt(s.value);
  if (r.batch && r.metric === 'steps/s' && s.value) v += ` (${fmt(s.value * r.batch)} img/s)`;
  if (s.check?.status === 'FAIL') v += ' ✗check';
  return v;
}

/** The peers that appear in any row, in PEERS order. */
const peersIn = (rows: RowResult[]) => PEERS.filter((p) => rows.some((r) => r.peers[p]));

export function markdown(rows: RowResult[], info: RunInfo, base = 'latest'): string {
  const peers = peersIn(rows);
  const L: string[] = [];
  L.push(`# ${info.title ?? 'wgrad vs jax-js and TensorFlow.js, side by side'}`);
  L.push('');
  L.push(`- date: ${info.date}; mode: **${info.mode}**; ${info.durationS.toFixed(0)} s; command: \`${info.command}\`; git ${info.gitCommit}`);
  L.push(`- machine: ${info.cpu}, ${info.cores} cores; Node ${info.node}; load average before ${info.loadBefore.map((x) => x.toFixed(1)).join(' ')}, after ${info.loadAfter.map((x) => x.toFixed(1)).join(' ')}`);
  L.push(`- adapter: ${info.adapter}`);
  L.push(`- wgrad: ${info.wgradBackend}${info.wgradError ? ` — **not available: ${info.wgradError}**` : ''}`);
  for (const [id, p] of Object.entries(info.peers).sort(([a], [b]) => PEERS.indexOf(a as never) - PEERS.indexOf(b as never))) L.push(`- ${peerLabel(id)}: ${p.error ? `**not available: ${p.error}**` : p.describe}`);
  L.push(`- timing: ${info.timing}`);
  if (info.dawnFlags) L.push(`- Dawn flags: ${info.dawnFlags.map((f) => `\`${f}\``).join(', ')}${info.dawnFlags.some((f) => f.includes('disable_robustness')) ? ' — **robustness off** (bounds clamps removed)' : ''}`);
  L.push('');
  L.push('Ratio = wgrad / the **fastest peer** on the row (wall-clock medians; > 1 means wgrad is faster). Target:');
  L.push('matmul 1024² and every training step ≥ 8×, tiny-op dispatch ≥ 3×, every other row ≥ 2×. "cannot run": the peer');
  L.push('lacks the operation (reason below); "—": no implementation of the row for that peer (wgrad-only rows).');
  L.push('');
  const heads = ['row', 'shape', 'metric', 'wgrad', ...peers.map(peerLabel), 'fastest peer', 'ratio', 'target', 'check', 'GPU ms wgrad / fastest', 'reps', 'wgrad of ceiling'];
  L.push(`| ${heads.join(' | ')} |`);
  const numeric = new Set(['wgrad', ...peers.map(peerLabel), 'ratio', 'GPU ms wgrad / fastest', 'reps', 'wgrad of ceiling']);
  L.push(`|${heads.map((h) => (numeric.has(h) ? '---:' : '---')).join('|')}|`);
  let group = '';
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      L.push(`| **${group}** |${' |'.repeat(heads.length - 1)}`);
    }
    const t = target(r);
    const met = r.ratio === undefined ? '—' : r.ratio >= t ? `≥${t}× ✓` : `≥${t}× ✗`;
    const chk = r.check.status === 'n/a' ? 'n/a' : `${r.check.status} (${r.check.relErr! < 1e-12 ? '0' : r.check.relErr!.toExponential(1)})`;
    const gpu = r.wgrad.gpuMs !== undefined || r.best?.gpuMs !== undefined ? `${fmtMs(r.wgrad.gpuMs)} / ${fmtMs(r.best?.gpuMs)}${r.gpuTimeFromWallRuns ? '*' : ''}` : '—';
    const cells = [cell(r.name), cell(r.shape), r.metric, sideCell(r, r.wgrad), ...peers.map((p) => sideCell(r, r.peers[p])),
      r.best ? peerLabel(r.best.peer) : '—', fmtRatio(r.ratio), met, chk, gpu, String(r.repeats), ofCeiling(r)];
    L.push(`| ${cells.join(' | ')} |`);
  }
  L.push('');
  L.push('wgrad of ceiling: memory rows as a fraction of this run\'s roofline (the best copy kernel, below); GEMM rows as a fraction of numpy\'s sgemm on the same CPU (CPU ceiling, below). reps: the most timed repeats of any side (each side\'s own count is in the JSON).');
  L.push('');
  L.push(...hostSection(rows));
  L.push(...rooflineSection(rows, info, peers));
  L.push('GPU ms: median GPU busy time of one iteration from timestamp queries, in separate instrumented runs (* for rows slower than 2 s: in the timed runs themselves); the fastest peer\'s where it runs on WebGPU.');
  L.push('');
  L.push(...failureSection(rows, info));
  const checks = rows.filter((r) => r.check.detail);
  if (checks.length) {
    L.push('## Cross-check values (scalar results; training rows: the losses of the first two SGD steps from the same weights)');
    L.push('');
    for (const r of checks) L.push(`- ${r.name}: ${r.check.detail}; worst rel. error ${r.check.relErr?.toExponential(2)} (tolerance ${r.check.tol})`);
    L.push('');
  }
  L.push(...ceilingSection(rows, info));
  if (info.notes.length) {
    L.push('## Notes');
    L.push('');
    for (const n of info.notes) L.push(`- ${n}`);
    L.push('');
  }
  L.push(`Chart: \`${base}.svg\` beside this file (ratios, log scale). Raw samples: \`${base}.json\`.`);
  return L.join('\n') + '\n';
}

/** wgrad's host time per training step: what the JavaScript costs apart from the device. */
function hostSection(rows: RowResult[]): string[] {
  const hs = rows.filter((r) => r.host);
  if (!hs.length) return [];
  const L = ['## Host time per training step (wgrad, eager)', ''];
  L.push('Host ms: the step\'s JavaScript — tracing, fusing, encoding and submitting its dispatches — plus the synchronous start of `wg.sync()` (the last submit), timed apart from the wait for the device that follows; median of the samples. µs per dispatch = host ms / dispatches. On a fast GPU the step cannot take less than its host time.');
  L.push('');
  L.push('| step | shape | host ms | device wait ms | dispatches | submits | µs per dispatch | samples |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of hs) {
    const h = r.host!;
    L.push(`| ${cell(r.name)} | ${cell(r.shape)} | ${fmtMs(h.hostMs)} | ${fmtMs(h.waitMs)} | ${h.dispatches} | ${h.submits} | ${fmt(h.usPerDispatch)} | ${h.samples} |`);
  }
  L.push('');
  return L;
}

/** Rows a side could not run, with the reason, and rows left out by the deadline. */
function failureSection(rows: RowResult[], info: RunInfo): string[] {
  const items = rows.flatMap((r) => [['wgrad', r.wgrad] as const, ...Object.entries(r.peers)]
    .filter(([, s]) => !s.ok && s.error)
    .map(([id, s]) => ({ row: `${r.name} (${r.shape})`, who: id === 'wgrad' ? 'wgrad' : peerLabel(id), what: `${s.cannot ? 'cannot run: ' : ''}${s.error}` })));
  const L: string[] = [];
  if (items.length) {
    L.push('## Rows a side could not run', '');
    // Collapse identical messages (e.g. a peer that cannot compute a conv gradient at all).
    const seen = new Map<string, string[]>();
    for (const f of items) seen.set(`${f.who}: ${f.what}`, [...(seen.get(`${f.who}: ${f.what}`) ?? []), f.row]);
    for (const [m, rs] of seen) L.push(`- ${m} — ${rs.length > 2 ? `${rs.length} rows (${rs.map((x) => x.split(' (')[0]).join('; ')})` : rs.join('; ')}`);
    L.push('');
  }
  if (info.skipped?.length) L.push(`Left out (--deadline, or the run was stopped): ${info.skipped.join('; ')}.`, '');
  return L;
}

function ceilingSection(rows: RowResult[], info: RunInfo): string[] {
  const L = ['## CPU ceiling (a software GPU runs on this same CPU)', ''];
  const np = info.ceilings.numpy, th = info.ceilings.torch;
  if (np && 'results' in np) L.push(`- numpy ${np.numpy} (${np.python}), BLAS: ${np.blas}, ${np.threads} threads.`);
  else L.push(`- numpy sgemm: not measured${np ? ` (${np.error})` : ''}.`);
  if (th && 'results' in th) L.push(`- PyTorch ${th.torch} on the CPU (${th.python}), ${th.threads} threads.`);
  else L.push(`- PyTorch: not measured${th ? ` (${th.error})` : ''}.`);
  if (info.ceilings.loadDuring) L.push(`- load average while the ceilings ran: ${info.ceilings.loadDuring.map((x) => x.toFixed(1)).join(' ')} (measured after the GPU rows, not interleaved with them).`);
  L.push('');
  const ceil = rows.filter((r) => r.ceiling);
  if (ceil.length) {
    L.push('| row | metric | wgrad | fastest peer | CPU ceiling | wgrad / ceiling | fastest peer / ceiling |');
    L.push('|---|---|---:|---:|---:|---:|---:|');
    for (const r of ceil) {
      const c = r.ceiling!;
      const br = r.best ? r.best.value / c.value : undefined;
      L.push(`| ${r.name} | ${r.metric} | ${sideCell(r, r.wgrad)} | ${r.best ? `${fmt(r.best.value)} (${peerLabel(r.best.peer)})` : '—'} | ${fmt(c.value)} (${c.name}) | ${fmtRatio(c.ratio)} | ${fmtRatio(br)} |`);
    }
    L.push('');
  }
  return L;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The roofline measured in this run, its sweep, and each memory-bound row against it. */
function rooflineSection(rows: RowResult[], info: RunInfo, peers: string[]): string[] {
  const rf = info.roofline;
  if (!rf) return [];
  const L = ['## Roofline (memory-bound rows)', ''];
  if ('error' in rf) return [...L, `- not measured: ${rf.error}`, ''];
  L.push(`- copy kernel \`o[i] = a[i]·2\` over ${rf.n / (1 << 20)}M floats (vec4), best of ${rf.sweep.length} shapes: **${rf.best.gbps.toFixed(2)} GB/s** with ${shapeName(rf.best)}; host memcpy (Float32Array.set, same size): ${rf.hostGbps.toFixed(2)} GB/s (GB/s = bytes read + bytes written).`);
  L.push(`- sweep (interleaved rounds, medians): ${rf.sweep.map((s) => `${s.lanes}×${s.perLane}${s.layout === 'strided' ? 's' : ''} ${s.gbps.toFixed(2)}`).join(', ')} (lanes × vec4 per invocation; s = lanes interleaved).`);
  L.push(`- wgrad's reductions on this adapter: ${rf.tuning} (src/kernels/tuning.ts).`);
  L.push('');
  const mem = rows.filter((r) => r.roofline);
  if (mem.length) {
    L.push('Each memory row times the best copy kernel between its own repeats (same machine load); its fraction is of that copy\'s median.');
    L.push('');
    L.push(`| row | shape | wgrad GB/s | copy GB/s (interleaved) | wgrad of roofline | ≥ 50 % | ${peers.map((p) => `${peerLabel(p)} of roofline`).join(' | ')} |`);
    L.push(`|---|---|---:|---:|---:|---|${peers.map(() => '---:').join('|')}|`);
    const pct = (v: number | undefined) => (v === undefined ? '—' : `${(100 * v).toFixed(0)} %`);
    for (const r of mem) {
      const f = r.roofline!;
      L.push(`| ${cell(r.name)} | ${cell(r.shape)} | ${sideCell(r, r.wgrad)} | ${fmt(f.gbps)} | ${pct(f.wgrad)} | ${f.wgrad === undefined ? '—' : f.wgrad >= 0.5 ? '✓' : '✗'} | ${peers.map((p) => pct(f.peers[p])).join(' | ')} |`);
    }
    L.push('');
  }
  return L;
}

/** A horizontal bar chart of the ratios on a log scale, with the 1× and 8× lines. */
export function svgChart(rows: RowResult[], info: Pick<RunInfo, 'date' | 'mode' | 'adapter'>): string {
  const labelW = 400, plotW = 520, rightW = 80, rowH = 20, top = 66, bottom = 40;
  const width = labelW + plotW + rightW;
  const height = top + rows.length * rowH + bottom;
  const ratios = rows.map((r) => r.ratio).filter((v): v is number => v !== undefined && v > 0);
  const lo = Math.min(0.1, ...ratios.map((v) => 10 ** Math.floor(Math.log10(v))));
  const hi = Math.max(100, ...ratios.map((v) => 10 ** Math.ceil(Math.log10(v))));
  const x = (v: number) => labelW + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  o.push(`<text x="10" y="18" font-size="14" font-weight="bold">wgrad / the fastest peer's throughput (log scale; right of 1× = wgrad faster)</text>`);
  o.push(`<text x="10" y="36" fill="#555">${esc(`${info.mode} run, ${info.date}; ${info.adapter}`)}</text>`);
  // Grid: decades and the target lines.
  for (let d = lo; d <= hi * 1.001; d *= 10) {
    o.push(`<line x1="${x(d).toFixed(1)}" y1="${top - 4}" x2="${x(d).toFixed(1)}" y2="${height - bottom + 4}" stroke="#ddd"/>`);
    o.push(`<text x="${x(d).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" fill="#555">${d >= 1 ? d.toFixed(0) : d}×</text>`);
  }
  const vline = (v: number, color: string, label: string, dash = '') => {
    o.push(`<line x1="${x(v).toFixed(1)}" y1="${top - 8}" x2="${x(v).toFixed(1)}" y2="${height - bottom + 4}" stroke="${color}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    o.push(`<text x="${x(v).toFixed(1)}" y="${top - 11}" text-anchor="middle" fill="${color}">${label}</text>`);
  };
  vline(1, '#000', '1×');
  vline(8, '#1a7f37', '8×', '5,3');
  let group = '';
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    if (r.group !== group) {
      group = r.group;
      o.push(`<line x1="10" y1="${y}" x2="${width - 10}" y2="${y}" stroke="#bbb"/>`);
    }
    const label = `${r.name} — ${r.shape}`;
    o.push(`<text x="${labelW - 8}" y="${y + 14}" text-anchor="end">${esc(label.length > 54 ? label.slice(0, 53) + '…' : label)}</text>`);
    if (r.ratio === undefined) {
      o.push(`<text x="${x(1) + 6}" y="${y + 14}" fill="#b00">${!r.wgrad.ok ? 'wgrad failed' : !r.best ? 'no peer ran' : 'n/a'}</text>`);
      return;
    }
    const t = target(r);
    const color = r.ratio >= t ? '#2da44e' : r.ratio >= 1 ? '#d4a72c' : '#cf222e';
    const x0 = x(Math.max(lo, Math.min(1, r.ratio))), x1 = x(Math.min(hi, Math.max(1, r.ratio)));
    o.push(`<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`);
    // Target tick for this row.
    o.push(`<line x1="${x(t).toFixed(1)}" y1="${y + 2}" x2="${x(t).toFixed(1)}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2"/>`);
    const fail = r.check.status === 'FAIL' ? ' ✗check' : '';
    o.push(`<text x="${labelW + plotW + 6}" y="${y + 14}">${esc(fmtRatio(r.ratio) + fail)}</text>`);
    if (r.best) o.push(`<text x="${x0 > x(1) - 1 ? x1 + 4 : x0 - 4}" y="${y + 14}" text-anchor="${x0 > x(1) - 1 ? 'start' : 'end'}" fill="#555" font-size="9">${esc(peerLabel(r.best.peer))}</text>`);
  });
  o.push(`<text x="10" y="${height - 8}" fill="#555">green: meets its target (black tick: 8× matmul 1024² and training steps, 3× dispatch, 2× others); yellow: faster but below target; red: slower</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

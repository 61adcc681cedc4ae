/**
 * `npm run bench:gpu`: the benchmark for a lent GPU machine, in ≤ 8 minutes. Checks that Dawn finds
 * a hardware adapter (and that a Vulkan driver is installed; says what to install if not), then
 * runs the suite's main rows against every peer with a short budget and a deadline, and writes
 * bench/results/gpu-<adapter>.{md,json,svg}.
 *
 *   npm run bench:gpu                                  # on the GPU machine
 *   npm run bench:gpu -- --allow-software --quick      # test the script on lavapipe (no GPU)
 *
 * Options: --allow-software (run on a software adapter: lavapipe, SwiftShader), --quick (the
 * suite's small shapes), --deadline S (default 330: rows not started by then are left out, so that
 * the ceilings and the report fit in the 8 minutes); anything else goes to bench/run.ts (e.g.
 * --peers jax-webgpu,tfjs-webgpu).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOTAL_S = 460;

/** The suite's main rows (ids or id prefixes for run.ts's --only). */
const MAIN_ROWS = ['matmul.1024', 'matmul.2048', 'conv.cnn2.bwd', 'conv.res32.bwd', 'mem.chain', 'mem.softmax', 'mem.layernorm', 'mem.sum.rows', 'dispatch.tiny', 'train.'];

/** Vulkan driver manifests (ICDs) the loader would find. */
function vulkanIcds(): string[] {
  if (process.env.VK_ICD_FILENAMES) return process.env.VK_ICD_FILENAMES.split(':').filter((f) => existsSync(f));
  return ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'].flatMap((d) => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f));
    } catch {
      return [];
    }
  });
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

interface Probe { ok: boolean; software: boolean; name: string; detail: string }

/** Asks Dawn for a high-performance adapter; says whether it is a software one. */
async function probeAdapter(): Promise<Probe> {
  Object.assign(globalThis, globals);
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { ok: false, software: false, name: 'none', detail: 'Dawn found no WebGPU adapter' };
  const { vendor, architecture, device, description } = adapter.info;
  const name = [vendor, architecture, device, description].filter(Boolean).join(' / ');
  const fallback = (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { ok: true, software: fallback || SOFTWARE.test(name), name, detail: device || description || vendor };
}

const INSTALL_HELP = [
  'A hardware GPU needs its Vulkan driver (an ICD manifest in /usr/share/vulkan/icd.d) and the loader:',
  '  NVIDIA: the driver\'s Vulkan part (Debian: apt-get install nvidia-driver libnvidia-gl / nvidia-vulkan-icd;',
  '          other distributions: libnvidia-gl-<driver version>), plus libvulkan1; check with `vulkaninfo --summary`',
  '          (apt-get install vulkan-tools). In a container, the NVIDIA container toolkit must expose the graphics',
  '          capability (NVIDIA_DRIVER_CAPABILITIES=all or graphics,compute,utility).',
  '  AMD / Intel: apt-get install mesa-vulkan-drivers libvulkan1.',
].join('\n');

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'unknown';

function parse(argv: string[]) {
  const a = { allowSoftware: false, quick: false, deadline: 330, rest: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--allow-software') a.allowSoftware = true;
    else if (k === '--quick') a.quick = true;
    else if (k === '--deadline') {
      a.deadline = Number(argv[++i]);
      if (!(a.deadline > 0)) throw new Error('--deadline needs a number of seconds > 0');
    } else a.rest.push(k);
  }
  return a;
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  const icds = vulkanIcds();
  console.error(`Vulkan drivers (ICDs): ${icds.map((f) => path.basename(f)).join(', ') || 'none'}`);
  const probe = await probeAdapter();
  console.error(`Dawn's adapter: ${probe.name}${probe.software ? ' (software)' : ''}`);
  if (!probe.ok || (probe.software && !a.allowSoftware)) {
    console.error(`bench:gpu: ${probe.ok ? 'only a software adapter was found' : probe.detail}; this script measures a hardware GPU.`);
    if (!icds.some((f) => !/lvp_icd/.test(f))) console.error('No hardware Vulkan ICD is installed.');
    console.error(INSTALL_HELP);
    console.error('(To test this script on a software adapter: npm run bench:gpu -- --allow-software --quick)');
    return 2;
  }
  const name = `gpu-${slug(probe.detail)}`;
  // Training steps first (their host times matter most on a GPU); a peer call over 60 s (a Wasm
  // peer's CNN step) stops that peer for the row, so that slow CPU peers cannot use up the time.
  const args = ['--import', 'tsx', path.join(here, 'run.ts'), '--groups', 'train,matmul,conv,memory,dispatch', '--only', MAIN_ROWS.join(','),
    '--budget', '2', '--repeats', '5', '--host-repeats', '3', '--deadline', String(a.deadline), '--call-timeout', '60', '--name', name,
    '--title', `wgrad vs jax-js and TensorFlow.js on ${probe.detail}${probe.software ? ' (software adapter)' : ''}`,
    ...(a.quick ? ['--quick'] : []), ...a.rest];
  console.error(`bench:gpu: node ${args.slice(2).join(' ')}`);
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  // The whole run stays within TOTAL_S: past it the run is told to stop (SIGTERM: it writes the
  // rows measured so far, without the ceilings), and killed 20 s later if it has not.
  const timer = setTimeout(() => {
    console.error(`bench:gpu: stopping the run after ${TOTAL_S} s`);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
  }, TOTAL_S * 1000);
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
  clearTimeout(timer);
  const out = a.rest.includes('--out') ? path.resolve(a.rest[a.rest.indexOf('--out') + 1]) : path.join(here, 'results');
  if (code === 0) console.error(`bench:gpu: wrote ${path.join(out, name)}.{md,json,svg}`);
  return code;
}

main().then((c) => process.exit(c), (e) => {
  console.error(`bench:gpu: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});

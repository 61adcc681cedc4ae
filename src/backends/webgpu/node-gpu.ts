/**
 * Node entry point for WebGPU: the `webgpu` npm package (Dawn). This is the only file under src/
 * that imports Node-specific modules; browser builds never load it.
 *
 * `webgpu` is an optional peer dependency (132 MB of Dawn binaries a browser user should not get),
 * so it is imported dynamically: `wgrad/node` loads without it, and `init()` on WebGPU then says to
 * `npm install webgpu` (the CPU backend works either way).
 *
 * `dawnToggles` are passed to Dawn as `enable-dawn-features=...` (e.g. ['disable_robustness']).
 * WGRAD_DISABLE_ROBUSTNESS=1 adds `disable_robustness` (opt-in; the same as
 * `init({ dawnToggles: ['disable_robustness'] })`): Dawn then drops the index clamps it adds to
 * fixed-size and workgroup arrays (measured: the `min(i, n - 1)` around every workgroup-tile index
 * in the SPIR-V disappears; storage-buffer accesses are bounds-checked by the Vulkan driver either
 * way). wgrad's kernels never index out of bounds, but a bug would then read or write outside an
 * array instead of a clamped element; tests run with robustness on.
 */
import { WgradError } from '../../core/backend.js';

type Dawn = typeof import('webgpu');

// Top-level await keeps nodeGpu() synchronous; a failed import is reported when WebGPU is asked for.
const dawn: Dawn | Error = await import('webgpu').catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));

let installed = false;
/** One Dawn instance per option set, kept alive for the life of the process: a collected instance
 *  takes its devices' event processing down with it (a use-after-free crash inside Dawn). */
const instances = new Map<string, GPU>();

function loadDawn(): Dawn {
  if (!(dawn instanceof Error)) return dawn;
  const missing = (dawn as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(dawn.message);
  throw new WgradError('init', missing
    ? "WebGPU in Node needs the optional peer dependency `webgpu` (Dawn): run `npm install webgpu`, or use the CPU backend with init({ backend: 'cpu' })"
    : `the \`webgpu\` package (Dawn) failed to load: ${dawn.message}; reinstall it (\`npm install webgpu\`), or use the CPU backend with init({ backend: 'cpu' })`);
}

export function nodeGpu(opts: { dawnToggles?: string[]; disableToggles?: string[]; dawnOptions?: string[] } = {}): GPU {
  const { create, globals } = loadDawn();
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  if (!installed) {
    // GPUBufferUsage, GPUMapMode, ... as globals, like in a browser.
    for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    installed = true;
  }
  const args: string[] = [...(opts.dawnOptions ?? [])];
  const toggles = [...(opts.dawnToggles ?? [])];
  if (/^(1|true|yes)$/i.test(process.env.WGRAD_DISABLE_ROBUSTNESS ?? '') && !toggles.includes('disable_robustness')) toggles.push('disable_robustness');
  if (toggles.length) args.push(`enable-dawn-features=${toggles.join(',')}`);
  if (opts.disableToggles?.length) args.push(`disable-dawn-features=${opts.disableToggles.join(',')}`);
  const key = args.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = create(args);
    instances.set(key, gpu);
  }
  return gpu;
}

/**
 * Node entry point for WebGPU: the `webgpu` npm package (Dawn). This is the only file under src/
 * that imports Node-specific modules; browser builds never load it.
 *
 *   import { nodeGpu } from 'wgrad/node';
 *   const backend = await requestWebGpuBackend({ gpu: nodeGpu() });
 *
 * `dawnToggles` are passed to Dawn as `enable-dawn-features=...` (e.g. ['disable_robustness']).
 */
import { create, globals } from 'webgpu';

let installed = false;
/** One Dawn instance per option set, kept alive for the life of the process: a collected instance
 *  takes its devices' event processing down with it (a use-after-free crash inside Dawn). */
const instances = new Map<string, GPU>();

export function nodeGpu(opts: { dawnToggles?: string[]; disableToggles?: string[]; dawnOptions?: string[] } = {}): GPU {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  if (!installed) {
    // GPUBufferUsage, GPUMapMode, ... as globals, like in a browser.
    for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    installed = true;
  }
  const args: string[] = [...(opts.dawnOptions ?? [])];
  if (opts.dawnToggles?.length) args.push(`enable-dawn-features=${opts.dawnToggles.join(',')}`);
  if (opts.disableToggles?.length) args.push(`disable-dawn-features=${opts.disableToggles.join(',')}`);
  const key = args.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = create(args);
    instances.set(key, gpu);
  }
  return gpu;
}

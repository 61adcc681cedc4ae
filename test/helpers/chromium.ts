/**
 * Debian's chromium driven by playwright-core (no browser download), with its own WebGPU on
 * SwiftShader: shared by the browser tests and scripts/demo-screenshot.ts.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: scripts/setup.sh installs Debian's chromium`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

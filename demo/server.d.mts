/** Types of demo/server.mjs (for the tests and scripts/demo-screenshot.ts). */
import type { Server } from 'node:http';

export const ROOT: string;
export function ensureBuild(log?: (line: string) => void): boolean;
export function startDemoServer(port?: number): Promise<{ server: Server; url: string }>;
export function portFrom(argv: readonly string[], env: Record<string, string | undefined>): number;

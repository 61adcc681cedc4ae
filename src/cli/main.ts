#!/usr/bin/env node
/**
 * The `wgrad` command line: self-supervised training (SimCLR, RoCL, IDAA, + the robustness
 * regularizer), evaluation and comparison on images.
 *
 *   wgrad train --method rocl            trains on the committed Fashion-MNIST subset
 *   wgrad eval --checkpoint runs/rocl    linear probe, kNN, robust accuracy, accuracy-vs-ε chart
 *   wgrad compare --epochs 5             every method, one encoder, one budget; table + charts
 *
 * Exit status: 0 on success, 2 for a usage error (unknown command, method or flag, bad value),
 * 1 for any other failure (missing or malformed data, an unreadable checkpoint, ...).
 */
import { main } from './cli.js';

// Exit explicitly: the WebGPU device keeps the event loop alive.
main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

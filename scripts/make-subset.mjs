#!/usr/bin/env node
/**
 * Writes the small Fashion-MNIST subset committed under data/fashion-mnist-subset/: the first
 * TRAIN (default 2000) training and TEST (default 1000) test examples of Debian's
 * `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist), as gzipped IDX files with the same
 * names as the full set, so the same reader loads both.
 *
 *   node scripts/make-subset.mjs [sourceDir] [outDir] [train] [test]
 *
 * Deterministic: gzip level 9 with a zero mtime and no file name (Node's zlib writes none), so
 * re-running it gives byte-identical files.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const [src = '/usr/share/datasets/fashion-mnist', out = 'data/fashion-mnist-subset', nTrain = '2000', nTest = '1000'] = process.argv.slice(2);

function subset(name, n) {
  const raw = gunzipSync(readFileSync(join(src, name)));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0 || raw[2] !== 0x08) throw new Error(`${name}: not a uint8 IDX file`);
  const rank = raw[3];
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  if (n > dims[0]) throw new Error(`${name}: asked for ${n} items, the file has ${dims[0]}`);
  const header = Buffer.from(raw.subarray(0, 4 + 4 * rank));
  new DataView(header.buffer, header.byteOffset).setUint32(4, n);
  const itemSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const body = raw.subarray(header.length, header.length + n * itemSize);
  const bytes = gzipSync(Buffer.concat([header, body]), { level: 9 });
  writeFileSync(join(out, name), bytes);
  console.log(`${join(out, name)}: ${n} × [${dims.slice(1)}], ${bytes.length} bytes`);
}

mkdirSync(out, { recursive: true });
subset('train-images-idx3-ubyte.gz', Number(nTrain));
subset('train-labels-idx1-ubyte.gz', Number(nTrain));
subset('t10k-images-idx3-ubyte.gz', Number(nTest));
subset('t10k-labels-idx1-ubyte.gz', Number(nTest));

/** How the command line prints paths. */
import { isAbsolute, normalize, relative, sep } from 'node:path';

/** A path as the user would write it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/**
 * A `--data` spec as a run stores and compares it: the names (subset, fashion-mnist) as given, paths
 * normalized ("DIR/", "DIR//" and "DIR" are one data set).
 */
export function normalizeDataSpec(spec: string): string {
  if (spec === 'subset' || spec === 'fashion-mnist') return spec;
  const n = normalize(spec);
  const p = n.length > 1 && n.endsWith(sep) ? n.slice(0, -1) : n;
  return p === 'subset' || p === 'fashion-mnist' ? `.${sep}${p}` : p; // a directory of that name, not the named data set
}

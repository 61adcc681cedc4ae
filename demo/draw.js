// @ts-check
/**
 * Drawing for the page: grey images on canvases and line charts as SVG with the package's own chart
 * writer (wg.evaluation.lineChart, the one `wgrad eval` draws its accuracy-versus-ε chart with).
 */
import * as wg from '/dist/index.js';

/** A canvas showing a [side × side] grey image (values in [0, 1]), scaled up without smoothing. */
export function imageCanvas(pixels, label, side = 28) {
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  canvas.title = label;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Sets a chart container to an SVG line chart; its accessible name is `summary`. */
export function renderChart(container, options, summary) {
  container.innerHTML = wg.evaluation.lineChart({ width: 640, plotHeight: 220, ...options });
  const svg = container.querySelector('svg');
  if (svg) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', summary);
    svg.removeAttribute('height'); // CSS scales it to the container's width (phones)
  }
}

/** The example grid: one row per image with clean, view, adversarial and amplified perturbation. */
export function renderExamples(container, ex, labels) {
  const side = 28, size = side * side;
  const columns = [['clean', ex.clean, 'clean image'], ['view', ex.view, 'augmented view']];
  if (ex.adv) columns.push(['adv', ex.adv, 'adversarial view'], ['delta', ex.delta, `perturbation, amplified ${(0.5 / Math.max(ex.linf, 1e-12)).toFixed(1)}×`]);
  const table = document.createElement('table');
  table.className = 'examples';
  const caption = table.createCaption();
  caption.textContent = ex.adv ? `${ex.attack}; measured ‖δ‖∞ = ${ex.linf.toFixed(3)}, shown amplified to the full grey range` : ex.attack;
  const head = table.createTHead().insertRow();
  for (const [, , title] of [['', null, 'label'], ...columns]) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = title;
    head.appendChild(th);
  }
  const body = table.createTBody();
  labels.forEach((name, i) => {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    row.appendChild(th);
    for (const [key, pixels, title] of columns) {
      row.insertCell().appendChild(imageCanvas(pixels.subarray(i * size, (i + 1) * size), `${name}: ${title}`)).dataset.kind = key;
    }
  });
  container.replaceChildren(table);
}

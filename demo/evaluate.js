// @ts-check
/**
 * What the page measures and shows of a run, with src/eval as `wgrad eval` uses it
 * (src/cli/evaluate.ts): the frozen encoder's features (eval mode; IDAA's clean BN branch), weighted
 * kNN (T = 0.5) and a linear probe on them, robust accuracy of encoder + linear head under PGD at
 * each ε, and a few examples: clean, the method's training views and its own adversarial view.
 */
import * as wg from '/dist/index.js';

const CLASSES = 10;

/** The frozen encoder of a run: x → features (src/cli/evaluate.ts's frozenEncoder). */
export function frozenEncoder(run) {
  return wg.ssl.evalFeatures(run.params, run.state.model, run.modelConfig.bnBranches ? 'clean' : undefined);
}

/**
 * kNN and linear-probe accuracy of the run's features: the bank is the first `bank` training images,
 * the queries the test images. Returns the accuracies and the trained head (the caller owns it).
 */
export async function probe(run, data, opts) {
  const encoder = frozenEncoder(run);
  const bank = { images: data.train.images, labels: data.train.labels };
  const tr = await wg.evaluation.extractFeatures(encoder, bank, { limit: opts.bank });
  const te = await wg.evaluation.extractFeatures(encoder, data.test);
  try {
    const knn = await wg.evaluation.knnAccuracy(tr, te, { classes: CLASSES, temperature: 0.5 });
    const head = await wg.evaluation.trainLinearHead(tr.features, tr.labels, { classes: CLASSES, epochs: opts.probeEpochs, key: wg.random.key(run.config.seed) });
    const linear = await wg.evaluation.accuracy((f) => wg.nn.linear.apply(head, f), { images: te.features, labels: te.labels });
    return { knn: knn.accuracy, k: knn.k, linear: linear.accuracy, head };
  } finally {
    wg.dispose([tr, te]);
  }
}

/** Robust accuracy of encoder + linear head under PGD-`steps` (α = ε/10, random start) at each ε, on the first `limit` test images. */
export async function robustSweep(run, head, test, opts) {
  const encoder = frozenEncoder(run);
  const model = (x) => wg.tidy(() => wg.nn.linear.apply(head, encoder(x)));
  const pgd = wg.evaluation.PGD;
  const entry = { name: pgd.label({ steps: opts.steps }), model, attack: pgd.at(model, { steps: opts.steps }, [0, 1]) };
  return wg.evaluation.accuracyVsEps([entry], test, opts.eps, { limit: opts.limit, key: wg.random.key(run.config.seed + 1), onPoint: opts.onPoint });
}

/** The first of two views (the second is freed). */
const firstOf = ([a, b]) => (b.dispose(), a);

/**
 * The method's training views of x and its own adversarial view, as its step builds them
 * (src/ssl/*.ts): [augmented view, adversarial view or undefined, what the attack is].
 */
function methodViews(run, x, key) {
  const { method, options: o } = run.config;
  const [kViews, kAttack] = wg.random.split(key, 2);
  const params = run.params, model = run.state.model;
  switch (method) {
    case 'noise': return [firstOf(wg.ssl.noiseViews(kViews, x, o.sigma)), undefined, `no attack: Gaussian views, σ = ${o.sigma}`];
    case 'mask': return [firstOf(wg.ssl.maskViews(kViews, x, { p: o.p, fill: o.fill })), undefined, `no attack: masked views, p = ${o.p}`];
    case 'aplr': {
      const gen = run.state.generator;
      if (!gen || o.perturbation !== 'learned') return [wg.copy(x), undefined, `no learned generator (perturbation: ${o.perturbation})`];
      const adv = wg.attacks.noiseGenerator.apply(gen.params, x, { eps: o.eps, norm: 'linf', box: [0, 1] });
      return [wg.copy(x), adv, `APLR's generator noise, ε = ${o.eps} (L∞)`];
    }
    default: {
      const [a, b] = wg.ssl.twoViews(kViews, x, wg.ssl.augmentOf(o));
      try {
        if (method === 'rocl') return [wg.keep(a), wg.ssl.roclAttack(params, model, a, b, kAttack, { eps: o.eps, alpha: o.alpha, steps: o.steps }), `RoCL's instance-wise PGD-${o.steps}, ε = ${o.eps} (L∞)`];
        if (method === 'idaa' && run.vae) {
          const vae = { params: run.vae.params, state: run.vae.state.model };
          return [wg.keep(a), wg.ssl.idaaAttack(params, model, a, kAttack, { eps: o.eps, vae }), `IDAA's latent step through its VAE, ε = ${o.eps} (latent)`];
        }
        return [wg.keep(a), undefined, `${method}: no attack (augmented views only)`];
      } finally {
        b.dispose();
      }
    }
  }
}

/**
 * The example grid: for each of the first images of x, the clean image, the augmented view, the
 * adversarial view and its perturbation amplified to the full grey range (δ / (2·max|δ|) + ½).
 * Returns host arrays (row-major [28·28] in [0, 1]) and the attack's description and ‖δ‖∞.
 */
export async function examples(run, x, key) {
  const [view, adv, attack] = methodViews(run, x, key);
  try {
    const images = { clean: await x.data(), view: await view.data() };
    if (!adv) return { ...images, attack, linf: 0 };
    const delta = wg.sub(adv, view);
    try {
      const d = await delta.data();
      const linf = d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const amplified = d.map((v) => (linf > 0 ? 0.5 + v / (2 * linf) : 0.5));
      return { ...images, adv: await adv.data(), delta: amplified, attack, linf };
    } finally {
      delta.dispose();
    }
  } finally {
    wg.dispose([view, adv]);
  }
}

"""Does training NPE on the simulator's joint scores improve accuracy per simulation?

A 4-parameter linear-Gaussian model observed in 6 dimensions, x = A theta + 0.5 eps, standard
normal prior, through `GaussianObservation` (the joint score comes from one reverse pass of
the simulator). For each bank size, NPE with `score_weight` 0 (plain maximum likelihood), 0.1
and 1 is trained from 3 seeds; the accuracy is the KL divergence from the analytic posterior,
averaged over 50 held-out observations (Monte Carlo, 2000 exact posterior draws each).

    .venv/bin/python benchmarks/inference_scores.py --n 200 500 1000
"""

import argparse
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[200, 500, 1000])
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 1.0])
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()

    import jax
    import jax.numpy as jnp

    from brainmass_eqx import inference as inf

    d, m, s = 4, 6, 0.5
    a = np.random.default_rng(0).standard_normal((m, d)) / np.sqrt(d)
    prior = inf.JointPrior([inf.Normal(0.0, 1.0, shape=(d,))])
    sim = inf.GaussianObservation(lambda th, key: jnp.asarray(a, th.dtype) @ th, s)
    cov = np.linalg.inv(np.eye(d) + a.T @ a / s**2)
    chol = np.linalg.cholesky(cov)
    entropy = 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))
    rng = np.random.default_rng(1)
    test_x = rng.standard_normal((50, d)) @ a.T + s * rng.standard_normal((50, m))
    draws = [cov @ a.T @ x / s**2 + rng.standard_normal((2000, d)) @ chol.T for x in test_x]

    def kl(post):
        return float(np.mean([-np.mean(post.log_prob(jnp.asarray(th), jnp.asarray(x)))
                              for x, th in zip(test_x, draws)])) - entropy

    print(f"{'n':>6} " + " ".join(f"{'KL, weight ' + str(w):>20}" for w in args.weights)
          + "   fit s (weight 0 / last)")
    for n in args.n:
        bank = inf.simulate_bank(sim, prior, n, jax.random.key(n), scores=True, progress=False)
        row, times = [], []
        for w in args.weights:
            vals = []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                npe = inf.NPE(prior, score_weight=w, progress=False)
                vals.append(kl(npe.fit(bank, jax.random.key(seed))))
            times.append((time.perf_counter() - t0) / args.seeds)
            row.append(f"{np.mean(vals):8.3f} +- {np.std(vals):6.3f}")
        print(f"{n:6d} " + " ".join(f"{r:>20}" for r in row)
              + f"   {times[0]:.1f} / {times[-1]:.1f}", flush=True)


if __name__ == "__main__":
    main()

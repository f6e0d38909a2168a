"""Write the tutorial notebooks from the cells below (run: `.venv/bin/python notebooks/build.py`).

The notebooks are committed without outputs and executed by `tests/test_notebooks.py` (a slow
test, run in CI), so they cannot rot. Keep each one under a minute on two CPU cores, except
`09_inference_hcp`, which simulates a real bank (about three minutes).
"""

import pathlib

import nbformat


HERE = pathlib.Path(__file__).parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quickstart\n\nBuild a model, simulate it, take a gradient through the solve."),
        ("code", "import jax, jax.numpy as jnp\nimport brainmass_eqx as bmx\n\n"
                 "model = bmx.Hopf(a=jnp.array([-0.05, 0.25, 1.0]))\n"
                 "sim = bmx.simulate(model, 1000.0, 0.5, transient=200.0)\n"
                 "sim['x'].shape, jnp.hypot(sim['x'], sim['y'])[-1]  # radius sqrt(max(a, 0))"),
        ("code", "def loss(a):\n"
                 "    s = bmx.simulate(bmx.Hopf(a=a), 400.0, 0.5, transient=200.0, "
                 "monitors=['x'])\n"
                 "    return (jnp.sqrt(2 * jnp.mean(s['x'] ** 2)) - 1.2) ** 2\n\n"
                 "jax.value_and_grad(loss)(0.5)"),
        ("code", "fig, ax = bmx.viz.plot_timeseries(sim.ts, sim['x'], labels=['-0.05', '0.25', "
                 "'1.0'])"),
    ],
    "02_whole_brain_hcp.ipynb": [
        ("md", "# A whole-brain network on the HCP connectome\n\nDelays from fibre lengths, "
               "noise, BOLD at the HCP TR, and the FC compared with the empirical FC."),
        ("code", "import jax, jax.numpy as jnp\nimport brainmass_eqx as bmx\n"
                 "from brainmass_eqx.cli import hcp_demo_network\n\n"
                 "data = bmx.datasets.load_dataset('hcp')\n"
                 "net = hcp_demo_network(data)  # Hopf nodes at each region's BOLD peak frequency\n"
                 "sim = bmx.simulate(net, 60_000.0, 1.0, transient=10_000.0, "
                 "key=jax.random.key(0),\n"
                 "                   monitors={'bold': bmx.BalloonWindkessel(on='x', "
                 "period=data.tr)})\n"
                 "sim['bold'].shape"),
        ("code", "fc = bmx.metrics.fc(sim['bold'])\n"
                 "print('FC correlation:', float(bmx.metrics.matrix_correlation(fc, "
                 "data.group_fc)))\n"
                 "fig, axes = bmx.viz.plot_fc_comparison(fc, data.group_fc)"),
    ],
    "03_fitting_with_gradients.ipynb": [
        ("md", "# Fitting with gradients\n\nThe seeds' teaser: recover a Hopf bifurcation "
               "parameter from a settled amplitude, with Adam through the solve."),
        ("code", "import diffrax, jax.numpy as jnp, optax\nimport brainmass_eqx as bmx\n\n"
                 "Y0 = {'x': jnp.full((1,), 0.5), 'y': jnp.zeros(1)}\n\n"
                 "def amplitude(m):\n"
                 "    s = bmx.simulate(m, 400.0, 0.1, monitors=['x'], transient=200.0,\n"
                 "                     solver=diffrax.Heun(), y0=Y0)\n"
                 "    return jnp.sqrt(2.0 * jnp.mean(s['x'] ** 2))\n\n"
                 "def loss(m, target):\n    return (amplitude(m) - target) ** 2\n\n"
                 "target = amplitude(bmx.Hopf(a=1.5, omega=0.3))\n"
                 "res = bmx.fit(bmx.Hopf(a=0.1, omega=0.3), loss, target, where=lambda m: m.a,\n"
                 "              constraints=bmx.Positive(), method=optax.adam(0.1), steps=120)\n"
                 "res.best_params, res.best_loss, res.termination"),
        ("code", "fig, ax = bmx.viz.plot_fit_history(res)"),
        ("md", "A real-data version (81 parameters through delays and BOLD, FC r = 0.68) is "
               "`benchmarks/fit_hcp.py`; here a few steps of it on a short window:"),
        ("code", "import jax\nfrom brainmass_eqx.cli import hcp_demo_network\n"
                 "data = bmx.datasets.load_dataset('hcp')\n"
                 "net = hcp_demo_network(data, coupling=1e-3)\n"
                 "mon = {'bold': bmx.BalloonWindkessel(on='x', period=data.tr)}\n"
                 "obj = bmx.objectives.fc_corr(precomputed_target=True)\n\n"
                 "def fc_loss(m, target, key):\n"
                 "    s = bmx.simulate(m, 30_000.0, 1.0, transient=5_000.0, key=key, "
                 "monitors=mon)\n"
                 "    return obj(s['bold'], target)\n\n"
                 "r = bmx.fit(net, fc_loss, data.group_fc, jax.random.key(0),\n"
                 "            where=lambda m: (m.coupling.k, m.node.a),\n"
                 "            constraints=(bmx.Positive(), bmx.Bounded(-2e-4, 2e-4)),\n"
                 "            method=optax.adam(0.1), steps=3)\n"
                 "1 - r.history"),
    ],
    "04_gradient_free_fitting.ipynb": [
        ("md", "# Gradient-free fitting\n\nThe same loss, minimised by nevergrad (a vmapped "
               "population per generation) and scipy."),
        ("code", "import diffrax, jax.numpy as jnp\nimport brainmass_eqx as bmx\n\n"
                 "def loss(m, target):\n"
                 "    # fixed Heun steps: a wild candidate gives inf/NaN (skipped), never a\n"
                 "    # max_steps error (which the fitter also treats as a failed evaluation)\n"
                 "    s = bmx.simulate(m, 300.0, 0.1, monitors=['x'], transient=100.0,\n"
                 "                     solver=diffrax.Heun(),\n"
                 "                     y0={'x': jnp.full((1,), 0.5), 'y': jnp.zeros(1)})\n"
                 "    return (jnp.sqrt(2.0 * jnp.mean(s['x'] ** 2)) - target) ** 2\n\n"
                 "for method in [bmx.Nevergrad('CMA', budget=48, num_workers=8),\n"
                 "               bmx.Scipy('Nelder-Mead'), bmx.Scipy('L-BFGS-B')]:\n"
                 "    r = bmx.fit(bmx.Hopf(a=0.1), loss, jnp.asarray(1.0), where=lambda m: m.a,\n"
                 "                constraints=bmx.Positive(), method=method, steps=60)\n"
                 "    print(type(method).__name__, float(r.best_params[0]), r.n_evaluations)"),
    ],
    "05_choosing_a_model.ipynb": [
        ("md", "# Choosing a model\n\nThe catalogue is generated from the code."),
        ("code", "import brainmass_eqx as bmx\nprint(bmx.list_models.to_table())"),
        ("code", "fig, ax = bmx.viz.plot_phase_plane(bmx.FitzHughNagumo(), xlim=(-2.5, 2.5), "
                 "ylim=(-1.5, 2.5))"),
    ],
    "06_training_on_tasks.ipynb": [
        ("md", "# Training on tasks\n\nA HORN network learns delayed match-to-sample with "
               "`bmx.train`: minibatches, epochs, a held-out metric."),
        ("code", "import jax, optax\nimport brainmass_eqx as bmx\n\n"
                 "task = bmx.datasets.load_dataset('delayed_match_task', n_samples=512)\n"
                 "net = bmx.HORNSeqNetwork(2, 64, 2, key=jax.random.key(0), alpha=0.2)\n"
                 "res = bmx.train(net, task.inputs, task.targets, key=jax.random.key(1),\n"
                 "                validation=(task.val_inputs, task.val_targets),\n"
                 "                optimizer=optax.adam(3e-2), epochs=20, batch_size=32,\n"
                 "                where=bmx.HORNSeqNetwork.connection_weights, "
                 "target_metric=0.99)\n"
                 "res.history['val_metric'], res.termination"),
        ("code", "fig, ax = bmx.viz.plot_fit_history(res, title='HORN training')"),
    ],
    "07_dynamics_analysis.ipynb": [
        ("md", "# Dynamics analysis\n\nWhere does the resting state of a whole-brain network "
               "lose stability as the global coupling grows, and what FC does it produce on the "
               "way, without simulating? Then the critical coupling with and without conduction "
               "delays, and the Jansen-Rit bifurcation diagram with its alpha cycle."),
        ("code", "import equinox as eqx, jax, jax.numpy as jnp, numpy as np, scipy.optimize\n"
                 "import matplotlib.pyplot as plt\n"
                 "import brainmass_eqx as bmx\nfrom brainmass_eqx import analysis\n"
                 "from brainmass_eqx.cli import hcp_demo_network\n\n"
                 "data = bmx.datasets.load_dataset('hcp')\n"
                 "net = hcp_demo_network(data)  # Hopf nodes just below their bifurcation, "
                 "delays\nrest = {'x': jnp.zeros(80), 'y': jnp.zeros(80)}  # the equilibrium"),
        ("md", "The linear-noise BOLD FC (with the delays, through the linearised "
               "Balloon-Windkessel) and the rightmost characteristic root, against the "
               "global coupling. Each FC is a few tens of milliseconds once compiled."),
        ("code", "def with_k(k):\n    return eqx.tree_at(lambda n: n.coupling.k, net, k)\n\n"
                 "@eqx.filter_jit\ndef fc_r(k):\n"
                 "    lin = analysis.linearise(with_k(k), rest)\n"
                 "    return bmx.metrics.matrix_correlation(lin.bold_fc(), data.group_fc)\n\n"
                 "ks = np.linspace(0.0, 8e-3, 17)\nr = [float(fc_r(k)) for k in ks]\n"
                 "growth = [float(jnp.real(analysis.eigenvalues(with_k(k), rest, n=1, "
                 "degree=4).rightmost))\n          for k in ks[::2]]\n"
                 "fig, ax = plt.subplots(figsize=(6, 3.5))\n"
                 "ax.plot(ks * 1e3, r, 'o-', label='linear-noise BOLD FC vs empirical (r)')\n"
                 "ax.set(xlabel='global coupling k (1e-3 / ms)', ylabel='FC correlation')\n"
                 "ax2 = ax.twinx()\nax2.plot(ks[::2] * 1e3, np.asarray(growth) * 1e3, 's--', "
                 "color='tab:red')\n"
                 "ax2.set_ylabel('rightmost Re λ (1/s)', color='tab:red')\n"
                 "ax.legend(fontsize=8); ks[int(np.argmax(r))], max(r)"),
        ("md", "Diffusive coupling pulls regions together and keeps the rest state stable. "
               "With additive coupling of 10 Hz nodes the rest state loses stability at a "
               "critical coupling, and conduction delays (5 mm/ms here) move it: bisection on "
               "the rightmost root's real part."),
        ("code", "fast = bmx.Network(bmx.Hopf(a=-0.01, omega=0.0628), data.connectome,\n"
                 "                   bmx.LinearCoupling(a=1e-3), speed=5.0)\n"
                 "flat = bmx.Network(fast.node, data.connectome.without_lengths(), "
                 "fast.coupling)\n\n"
                 "def growth_at(k, network):\n"
                 "    n = eqx.tree_at(lambda n: n.coupling.a, network, k)\n"
                 "    return float(jnp.real(analysis.eigenvalues(n, rest, n=2, "
                 "degree=6).rightmost))\n\n"
                 "k_flat = scipy.optimize.brentq(growth_at, 0.0, 0.02, args=(flat,), "
                 "xtol=1e-6)\n"
                 "k_delayed = scipy.optimize.brentq(growth_at, 0.0, 0.02, args=(fast,), "
                 "xtol=1e-6)\n"
                 "lam_max = np.max(np.linalg.eigvals(np.asarray(data.connectome.weights)).real)"
                 "\n# undelayed, identical nodes: Re = a + k mu / 2 for each eigenvalue mu of W"
                 "\nprint(f'critical k: {k_flat:.5f} without delays (closed form "
                 "{0.02 / lam_max:.5f}), {k_delayed:.5f} with')"),
        ("md", "Jansen-Rit in the input rate $p$: the S-shaped branch of equilibria with its "
               "folds and Hopf points (Grimbert & Faugeras 2006 report the Hopf points at "
               "89.83 and 315.70 Hz), and the alpha cycle born at the upper Hopf point, "
               "continued by shooting."),
        ("code", "with jax.enable_x64(True):\n"
                 "    jr = bmx.JansenRit(p=-50.0)\n"
                 "    branch = analysis.continuation(jr, lambda m: m.p, -50.0, 400.0, "
                 "steps=100)\n"
                 "    top = max((b for b in branch.bifurcations if b.kind == 'hopf'), "
                 "key=lambda b: b.param)\n"
                 "    cycles = analysis.cycle_continuation(jr, lambda m: m.p, top, 120.0, "
                 "steps=25)\n"
                 "    fig, ax = bmx.viz.plot_bifurcation_diagram(branch, of='y1', "
                 "cycles=cycles,\n"
                 "                                               xlabel='p (Hz)', "
                 "title='Jansen-Rit')\n"
                 "[(b.kind, round(b.param, 2), round(b.frequency, 2)) for b in "
                 "branch.bifurcations]"),
    ],
    "08_fitting_real_data.ipynb": [
        ("md", "# Fitting real data\n\nFit the hcp Hopf network to four subjects' FC by the "
               "noise-free linear-noise BOLD FC (coupling, per-region bifurcation parameters "
               "and a gain on every structural connection), then check it the way a reviewer "
               "would: fresh noise, held-out subjects, FCD. This is the demo's recipe "
               "(`brainmass-eqx demo`); `benchmarks/fit_hcp.py` compares it with the grid "
               "sweep."),
        ("code", "import jax, jax.numpy as jnp, numpy as np, matplotlib.pyplot as plt\n"
                 "import brainmass_eqx as bmx\nfrom brainmass_eqx.cli._demo import demo_fit\n\n"
                 "data = bmx.datasets.load_dataset('hcp')\n"
                 "split = bmx.split_subjects(7, 3)            # fit on 4 subjects, hold out 3\n"
                 "train_fc = jnp.mean(data.fc[jnp.asarray(split.train)], axis=0)\n"
                 "res, loss = demo_fit(data, train_fc, steps=60)\n"
                 "fitted = res.best_model\n"
                 "print(f'{res.wall_time:.1f} s; linear-noise FC r = '\n"
                 "      f'{float(bmx.metrics.matrix_correlation(loss.fc(fitted), train_fc)):.3f}')"),
        ("md", "**Is the linear-noise FC valid here?** The fitted nodes are kept at least "
               "5e-5 /ms below their bifurcation (time constants under 20 s), so a few minutes "
               "of simulated BOLD can show the stationary FC the loss fitted. Validate on fresh "
               "noise: in-sample against the training subjects, held-out against the others. "
               "The gap is the over-fitting."),
        ("code", "report = bmx.validate(fitted, data, split, jax.random.key(1), "
                 "duration=300_000.0, n_runs=2)\nprint(report.table())"),
        ("code", "sim = bmx.simulate(fitted, 300_000.0, 1.0, key=jax.random.key(2), "
                 "transient=20_000.0,\n"
                 "                   monitors={'bold': bmx.BalloonWindkessel(period=data.tr)})\n"
                 "fc_sim = bmx.metrics.fc(sim['bold'])\n"
                 "test_fc = jnp.mean(data.fc[jnp.asarray(split.test)], axis=0)\n"
                 "fig, axes = bmx.viz.plot_fc_comparison(fc_sim, test_fc, titles=("
                 "'fitted, simulated', 'held-out subjects'))"),
        ("code", "iu = np.triu_indices(80, 1)\n"
                 "fcd_sim = np.asarray(bmx.metrics.upper_triangle(bmx.metrics.fcd(sim['bold'], "
                 "40, 4)))\n"
                 "fcd_emp = np.asarray(bmx.metrics.upper_triangle(bmx.metrics.fcd("
                 "jnp.asarray(data.bold[split.test[0]]), 40, 4)))\n"
                 "fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))\n"
                 "a.scatter(np.asarray(test_fc)[iu], np.asarray(fc_sim)[iu], s=2, alpha=0.3)\n"
                 "a.set(xlabel='empirical FC (held out)', ylabel='simulated FC')\n"
                 "b.hist(fcd_emp, bins=40, alpha=0.6, density=True, label='empirical')\n"
                 "b.hist(fcd_sim, bins=40, alpha=0.6, density=True, label='fitted model')\n"
                 "b.set(xlabel='FCD value'); b.legend();"),
        ("md", "**Reading it.** Which objective when: the linear-noise FC while the fitted "
               "regime is a stable equilibrium driven by noise (check with "
               "`bmx.check_linear_noise`); `MultiKeyFCLoss` when it is not (oscillating nodes, "
               "strong nonlinearity), with as many keys as the budget allows (its sampling "
               "variance falls as 1/keys). How long to simulate: many times the slowest time "
               "constant (the rightmost eigenvalue); 600 s runs pooled over keys for scoring. "
               "Over-fitting: the effective connectivity has thousands of parameters; the "
               "in-sample / held-out gap and the penalty towards the structural weights are "
               "the controls. This model's FCD is narrower than the data's: a stationary "
               "linear-noise fit does not produce the data's switching FC."),
    ],
    "09_inference_hcp.ipynb": [
        ("md", "# Posterior inference on real data: the hcp Hopf network\n\n"
               "Which parameters does the empirical FC pin down, and which not? We simulate a "
               "bank of hcp networks from a prior, train a normalizing-flow posterior on BOLD-FC "
               "summaries, check its calibration on held-out simulations, apply it to the "
               "empirical group FC, and compare the posterior predictive FC with the data. "
               "(About two minutes on two CPU cores: the bank is 1000 simulations of 7.5 min of "
               "BOLD; a GPU or more simulations sharpen it.)"),
        ("code", "import jax, jax.numpy as jnp, numpy as np, equinox as eqx\n"
                 "import matplotlib.pyplot as plt\n"
                 "import brainmass_eqx as bmx\n"
                 "from brainmass_eqx import inference as inf\n"
                 "from brainmass_eqx.cli import hcp_demo_network\n\n"
                 "data = bmx.datasets.load_dataset('hcp')\n"
                 "N_TR = 600  # the first 600 volumes (7.2 min) of each subject\n"
                 "demo = hcp_demo_network(data)\n"
                 "# The nodes oscillate at the BOLD peaks (~0.05 Hz): 10-50 ms conduction delays "
                 "are\n# < 0.3 % of a period, so the bank drops them and takes 20 ms steps.\n"
                 "net = bmx.Network(demo.node, data.connectome.without_lengths(), demo.coupling,\n"
                 "                  noise=demo.noise)\n"
                 "REGIONS = jnp.array([65, 64])  # the two most strongly connected regions"),
        ("md", "**Prior.** Global coupling $k$ and noise amplitude $\\sigma$ log-uniform over "
               "more than an order of magnitude; the damping $-a_i$ of the two hub regions "
               "log-uniform from the edge of the bifurcation ($10^{-5}$/ms) to strongly damped "
               "($3\\cdot10^{-3}$/ms). The simulator writes $\\theta$ into the network, "
               "simulates BOLD with `throw=False` (a failed solve becomes NaN, which the bank "
               "counts and leaves out) and returns summaries of the BOLD FC."),
        ("code", "sigma0 = float(demo.noise.sigma)\n"
                 "prior = inf.JointPrior([inf.LogUniform(0.3e-3, 10e-3),\n"
                 "                        inf.LogUniform(0.2 * sigma0, 5 * sigma0),\n"
                 "                        inf.LogUniform(1e-5, 3e-3, shape=(2,))],\n"
                 "                       names=('k', 'sigma', 'damping'))\n\n"
                 "def model_at(theta):\n"
                 "    k, sigma, damping = prior.unflatten(theta)\n"
                 "    a = net.node.a.at[REGIONS].set(-damping)\n"
                 "    return eqx.tree_at(lambda n: (n.coupling.k, n.noise.sigma, n.node.a), net,\n"
                 "                       (k, sigma, a))\n\n"
                 "sc = bmx.metrics.upper_triangle(data.connectome.weights)\n"
                 "monitor = bmx.BalloonWindkessel(period=data.tr)\n\n"
                 "def summaries(bold):\n"
                 "    fc = bmx.metrics.fc(bold)\n"
                 "    up = bmx.metrics.upper_triangle(fc)\n"
                 "    leading = jnp.linalg.eigvalsh(fc)[::-1][:3] / fc.shape[0]\n"
                 "    hubs = (fc[REGIONS].sum(axis=1) - 1) / (fc.shape[0] - 1)\n"
                 "    return jnp.concatenate([jnp.stack([up.mean(), up.std(), "
                 "bmx.metrics.pearson(up, sc)]),\n"
                 "                            leading, hubs])\n\n"
                 "NAMES = ['FC mean', 'FC sd', 'FC-SC r', 'eig 1', 'eig 2', 'eig 3', 'hub 1', "
                 "'hub 2']\n\n"
                 "def simulate_bold(theta, key):\n"
                 "    return bmx.simulate(model_at(theta), (N_TR + 20) * data.tr, 20.0, key=key,\n"
                 "                        transient=20 * data.tr, monitors={'bold': monitor},\n"
                 "                        throw=False)['bold']\n\n"
                 "def simulator(theta, key):\n"
                 "    return summaries(simulate_bold(theta, key))"),
        ("code", "bank = inf.simulate_bank(simulator, prior, 1000, jax.random.key(0), "
                 "batch_size=250)\n"
                 "train, held_out = bank.split(0.1, jax.random.key(1))\n"
                 "posterior = inf.NPE(prior, flow=inf.SplineCouplingFlow(layers=3, width=32),\n"
                 "                    patience=30, progress=False).fit(train, jax.random.key(2))\n"
                 "print(bank.n, 'simulations,', bank.n_failed, 'failed;', "
                 "len(posterior.history['val']), 'epochs')"),
        ("md", "**Calibration on simulated data.** SBC ranks of the held-out true values "
               "should be uniform (inside the grey band) and the TARP coverage curve on the "
               "diagonal."),
        ("code", "sbc = inf.sbc(posterior, held_out, jax.random.key(3))\n"
                 "print('SBC p-values', sbc.p_values.round(3), '90% coverage', "
                 "sbc.coverage(0.9))\n"
                 "fig, axes = bmx.viz.plot_sbc_ranks(sbc, labels=prior.labels)\n"
                 "tarp = inf.tarp(posterior, held_out, jax.random.key(4))\n"
                 "fig, ax = bmx.viz.plot_coverage(tarp)"),
        ("md", "**The empirical observation.** The group average of the subjects' summaries. "
               "First a prior-predictive check: where does it fall among the bank's "
               "simulations? A quantile of 0 or 1 means no simulation reached it."),
        ("code", "x_subjects = jnp.stack([summaries(data.bold[s, :N_TR]) for s in "
                 "range(data.bold.shape[0])])\n"
                 "x_obs = x_subjects.mean(axis=0)\n"
                 "quantile = (bank.x < np.asarray(x_obs)).mean(axis=0)\n"
                 "for name, v, q in zip(NAMES, np.asarray(x_obs), quantile):\n"
                 "    print(f'{name:8s} {v:7.3f}   prior-predictive quantile {q:.3f}')"),
        ("code", "samples = posterior.sample(x_obs, 4000, jax.random.key(5))\n"
                 "shown = np.c_[np.log10(samples[:, :2]), np.log10(samples[:, 2:])]\n"
                 "fig, axes = bmx.viz.plot_corner(shown, labels=['log10 k', 'log10 sigma',\n"
                 "                                               'log10 damping 1', "
                 "'log10 damping 2'])\n"
                 "prior_draws = prior.sample(jax.random.key(6), 4000)\n"
                 "for name, lo, hi in zip(prior.labels, *np.quantile(samples, [0.05, 0.95], "
                 "axis=0)):\n"
                 "    print(f'{name:11s} 90% credible interval [{lo:.3g}, {hi:.3g}]')\n"
                 "zs = inf.zscore_shrinkage(np.asarray(samples)[None], "
                 "np.asarray(samples).mean(0)[None], prior)\n"
                 "print('posterior shrinkage', zs.shrinkage.round(2))\n"
                 "# every subject's posterior in one vmapped call (the posterior is amortized)\n"
                 "per_subject = posterior.sample_many(x_subjects, 500, jax.random.key(7))\n"
                 "print('posterior median k per subject', "
                 "np.median(per_subject[..., 0], axis=1).round(5))"),
        ("md", "**Posterior predictive FC.** Simulate posterior draws and correlate their FC "
               "with the empirical group FC (how the fitting pages score a model)."),
        ("code", "def fc_match(theta, key):\n"
                 "    fc = bmx.metrics.fc(simulate_bold(theta, key))\n"
                 "    return bmx.metrics.matrix_correlation(fc, data.group_fc)\n\n"
                 "ppc = inf.posterior_predictive(posterior, fc_match, x_obs, 100, "
                 "jax.random.key(8), observed=1.0)\n"
                 "prior_fc = inf.simulate_bank(fc_match, prior, 100, jax.random.key(9), "
                 "progress=False)\n"
                 "fig, ax = plt.subplots(figsize=(5, 3))\n"
                 "ax.hist(prior_fc.x, bins=20, alpha=0.6, label='prior predictive')\n"
                 "ax.hist(ppc.x, bins=20, alpha=0.6, label='posterior predictive')\n"
                 "ax.set(xlabel='FC correlation with the empirical group FC'); ax.legend()\n"
                 "print('posterior predictive FC r: median', np.median(ppc.x).round(3), "
                 "'90% range', np.quantile(ppc.x, [0.05, 0.95]).round(3))"),
        ("md", "**Reading it.** The calibration checks say the posterior is trustworthy on "
               "data the model can produce. The prior-predictive quantiles say how far the "
               "empirical summaries lie from anything the model produces: where a quantile is "
               "0 or 1 the data are outside the model's reach (here the spread of the FC, which "
               "a homogeneous Hopf network underestimates; the effective-connectivity fit of "
               "the fitting tutorial adds the missing heterogeneity), and the posterior there is "
               "an extrapolation, to be read with that caveat. Shrinkage near 1 marks the "
               "parameters the FC identifies, near 0 those it leaves at the prior."),
    ],
    "10_discovery.ipynb": [
        ("md", "# Model discovery: a delayed Hopf network's equations from its activity\n\n"
               "Four Hopf nodes ($a = 0.5$, $\\omega = 2$ rad/ms) coupled diffusively through a "
               "random connectome with conduction delays of 1-5 ms ($k = 0.3$). From their "
               "trajectories, at increasing measurement noise, we recover the node equations "
               "*and* the coupling gain by sparse regression, compare the weak form with the "
               "derivative-based one, locate the recovered node's Hopf bifurcation, and "
               "simulate the recovered network against held-out data."),
        ("code", "import jax, jax.numpy as jnp, numpy as np\n"
                 "import matplotlib.pyplot as plt\n"
                 "import brainmass_eqx as bmx\n"
                 "from brainmass_eqx import discovery as dsc, analysis\n\n"
                 "library = dsc.Library(dsc.Polynomial(3), dsc.DiffusiveCouplingTerm('x'))\n"
                 "forms = {'weak': dsc.Weak(), 'derivative': dsc.Derivative()}\n"
                 "levels = [0.0, 0.02, 0.05, 0.1, 0.2]\n"
                 "results = {f: [] for f in forms}\n"
                 "for noise in levels:\n"
                 "    data = bmx.datasets.load_dataset('discovery_hopf_network', "
                 "measurement_noise=noise)\n"
                 "    for f, method in forms.items():\n"
                 "        m = dsc.discover(data.records, library, dt=data.dt, "
                 "state_names=data.state_names,\n"
                 "                         method=method, connectome=data.connectome, "
                 "speed=data.speed)\n"
                 "        results[f].append((dsc.term_scores(m, data.truth), "
                 "float(m.coefficients[0, -1]), m))\n"
                 "    print(f'noise {noise:4.2f}  ' + '  '.join(\n"
                 "        f'{f}: P {s.precision:.2f} R {s.recall:.2f} err "
                 "{s.coefficient_error:.3f} k {k:.3f}'\n"
                 "        for f in forms for s, k, _ in [results[f][-1]]))"),
        ("code", "fig, ax = plt.subplots(figsize=(5, 3.2))\n"
                 "for f in forms:\n"
                 "    ax.semilogy(levels, [max(s.coefficient_error, 1e-4) for s, _, _ in "
                 "results[f]], 'o-', label=f)\n"
                 "ax.set(xlabel='measurement noise (fraction of the signal sd)', "
                 "ylabel='coefficient error'); ax.legend();"),
        ("md", "At 10 % noise, the weak form's equations (the last column is the coupling "
               "gain, true value 0.3):"),
        ("code", "model = results['weak'][levels.index(0.1)][2]\nprint(model.equations())"),
        ("md", "**Bifurcation of the recovered node.** Drive the node with a constant input "
               "$I$ on $x$: the equilibrium loses stability in a Hopf bifurcation where "
               "$r^2 = a/2$, i.e. at $I^* = \\sqrt{a/2}\\,(a/2 + \\omega^2/(a/2))"
               "/\\sqrt{1 + \\omega^2/(a/2)^2}$. Continue both the true and the recovered "
               "node in $I$ (the recovered node is the `SparseModel` itself: its local terms; "
               "the coupling belongs to the network)."),
        ("code", "a, w = 0.5, 2.0\n"
                 "mu = a / 2\n"
                 "closed_form = np.sqrt(mu / (1 + w**2 / mu**2)) * (mu + w**2 / mu)\n"
                 "start = {'x': jnp.zeros(()), 'y': jnp.zeros(())}\n"
                 "for name, node in [('true', bmx.Hopf(a=a, omega=w)), ('recovered', model)]:\n"
                 "    branch = analysis.continuation(node, analysis.Drive('x'), 0.0, 3.0, "
                 "steps=60, y0=start)\n"
                 "    hopf = [b.param for b in branch.bifurcations if b.kind == 'hopf']\n"
                 "    print(f'{name:9s} Hopf point at I = {hopf[0]:.4f}')\n"
                 "print(f'closed form         I = {closed_form:.4f}')"),
        ("md", "**Held-out trajectory.** Rebuild the network with the recovered node and gain "
               "(`SparseModel.network`) and simulate it from a new initial state."),
        ("code", "data = bmx.datasets.load_dataset('discovery_hopf_network')\n"
                 "true_net = bmx.Network(bmx.Hopf(a=jnp.full(4, a), omega=jnp.full(4, w)), "
                 "data.connectome,\n"
                 "                       bmx.DiffusiveCoupling(k=0.3), speed=data.speed)\n"
                 "recovered_net = model.network(data.connectome, speed=data.speed)\n"
                 "y0 = true_net.initial_state(key=jax.random.key(42))\n"
                 "ref = bmx.simulate(true_net, 30.0, 0.01, y0=y0)\n"
                 "pred = bmx.simulate(recovered_net, 30.0, 0.01, y0=y0)\n"
                 "err = dsc.trajectory_error(model, np.stack([ref['x'], ref['y']], -1),\n"
                 "                           np.stack([pred['x'], pred['y']], -1))\n"
                 "print(f'relative trajectory error over 30 ms: {err:.3f}')\n"
                 "fig, ax = plt.subplots(figsize=(7, 2.8))\n"
                 "ax.plot(ref.ts, ref['x'][:, 0], label='true network, node 0')\n"
                 "ax.plot(pred.ts, pred['x'][:, 0], '--', label='recovered network')\n"
                 "ax.set(xlabel='time (ms)', ylabel='x'); ax.legend();"),
        ("md", "**Reading it.** The weak form integrates the data against smooth test "
               "functions instead of differentiating it, so measurement noise averages out: its "
               "coefficient error grows slowly with the noise while the smoothed derivative's "
               "grows fast and drops terms. The coupling term reads each node's neighbours at "
               "their conduction delays from the record, so the gain comes out with the "
               "equations. The recovered model is an ordinary model: `simulate`, `fit` and "
               "`analysis` take it."),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md"
                    else nbformat.v4.new_code_cell(src) for kind, src in cells]
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()

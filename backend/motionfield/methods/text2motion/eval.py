"""`motionfield eval text2motion`: the T2M protocol (Guo et al. 2022) on our held-out takes,
for ours and the baselines (real, retrieval, cvae), plus a framerate check.

Prompts are the canonical caption (data.caption) of each held-out take, durations the
take's own clamped to [1, 10] s. Every method generates at 20 fps (the evaluator's rate);
the evaluator (evaluator.py, trained on real training takes only) embeds motions and
captions in one space. Metrics (metrics.py): FID to the real takes' embeddings,
R-precision top-1/2/3 in batches of 32 (equal captions count as one text; see
metrics.r_precision), matching score, diversity (300 pairs), multimodality (K = 10 samples
of each distinct prompt, 10 pairs, up to 100 prompts), content and style accuracy of the
evaluator's classifiers, foot skating ratio and jitter. Each is measured `repeats` times
(seeds 0..R-1 for generation, shuffles and pairs) and reported as mean and 95% interval
(1.96 sigma / sqrt(R)); FID and the accuracies also get a bootstrap interval over the
motions of the first repeat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motionfield import metrics
from motionfield.methods.text2motion import data, evaluator
from motionfield.methods.text2motion.baselines import Real, Retrieval, load_cvae

FPS = evaluator.FPS
SPLIT_SETS = {"val": ("val", "val_novel"), "test": ("test", "test_novel")}
METHODS = ("real", "retrieval", "cvae", "ours")
MM_PROMPTS, MM_SAMPLES, MM_PAIRS = 100, 10, 10
BOOTSTRAP = 200
FRAMERATES = (20, 30, 120)
NERM_NOTE = ("NeRM (ICLR 2024) reports clip-FID 0.216 at 90 fps for itself against 2.588 "
             "for MLD whose 20 fps output is interpolated to 90 fps: a model of continuous "
             "time keeps its quality at any framerate. Here the same samples of ours at 20, "
             "30 and 120 fps are compared at their shared timestamps (every 0.1 s).")
PROTOCOL = (
    "T2M protocol (Guo et al. 2022) adapted to motionfield's labelled data: prompts are "
    "data.caption(content, style) of each held-out take, durations its own clamped to "
    "[1, 10] s, generated at 20 fps; our evaluator (trained on the train split's real takes "
    "only: FK joint features at 20 fps, conv motion encoder, MLP on MiniLM, InfoNCE + "
    "content/style heads; embeddings are unit vectors, so distances lie in [0, 2] and are "
    "not comparable with HumanML3D numbers) embeds motions and captions. FID against the "
    "real takes' embeddings; R-precision top-1/2/3 over shuffled batches of 32 motions whose "
    "candidates are their distinct captions, filled with random other content x style "
    "captions to 32 distinct texts (equal captions count as one text); matching score; "
    "diversity over 300 random pairs; multimodality over up to 100 distinct prompts with "
    "K=10 samples and 10 pairs each; content/style accuracy of the evaluator's heads; foot "
    "skating ratio (metrics.foot_skating, 20 fps) and jitter (m/s^3, 20 fps). Mean and 95% "
    "interval (1.96 sd / sqrt(R)) over R repeats; FID and accuracies also with a bootstrap "
    "interval over motions (first repeat). Real vs itself has FID 0 by construction; its "
    "bootstrap interval is the sampling noise floor.")

Generate = Callable[..., list]


def held_out(takes: list[data.Take]) -> tuple[list[str], list[float]]:
    """Prompts and durations of a held-out split's takes."""
    prompts = [data.caption(t.content, t.style) for t in takes]
    seconds = [float(np.clip(t.seconds, 1.0, data.MAX_SECONDS)) for t in takes]
    return prompts, seconds


class Scorer:
    """The evaluator with every content x style caption embedded once (R-precision's
    candidate texts)."""

    def __init__(self, ev: evaluator.LoadedEvaluator):
        self.ev = ev
        self.pairs = [(c, s) for c in ev.contents for s in ev.styles]
        self.index = {p: i for i, p in enumerate(self.pairs)}
        self.texts = ev.embed_texts([data.caption(c, s) for c, s in self.pairs])

    def embed(self, motions: list) -> tuple[np.ndarray, list[np.ndarray]]:
        positions = [evaluator.motion_positions(m) for m in motions]
        return self.ev.embed_positions(positions), positions

    def once(self, emb: np.ndarray, positions: list[np.ndarray], real: np.ndarray,
             takes: list[data.Take], seed: int) -> dict[str, float]:
        """One repeat's metrics of generated embeddings against the real ones."""
        rng = np.random.default_rng(seed)
        own = np.array([self.index[t.pair] for t in takes])
        top = metrics.r_precision(emb, self.texts, own, rng)
        content, style = self.ev.classify(emb)
        skating = [metrics.foot_skating(p, FPS).skating_ratio for p in positions if len(p) > 1]
        return {"fid": metrics.frechet_distance(emb, real),
                "top1": top[0], "top2": top[1], "top3": top[2],
                "matching": metrics.matching_score(emb, self.texts[own]),
                "diversity": metrics.diversity(emb, rng),
                "content_acc": float(np.mean(content == [t.content for t in takes])),
                "style_acc": float(np.mean(style == [t.style for t in takes])),
                "skating": float(np.mean(skating)),
                "jitter": float(np.mean([metrics.jitter(p, FPS) for p in positions
                                         if len(p) >= 4]))}

    def bootstrap(self, emb: np.ndarray, real: np.ndarray, takes: list[data.Take],
                  seed: int = 0, rounds: int = BOOTSTRAP) -> dict[str, list[float]]:
        """95% bootstrap intervals over motions of FID and the accuracies."""
        rng = np.random.default_rng(seed)
        content, style = self.ev.classify(emb)
        c_ok = content == np.array([t.content for t in takes])
        s_ok = style == np.array([t.style for t in takes])
        draws: dict[str, list[float]] = {"fid": [], "content_acc": [], "style_acc": []}
        for _ in range(rounds):
            rows = rng.integers(0, len(emb), len(emb))
            draws["fid"].append(metrics.frechet_distance(
                emb[rows], real[rng.integers(0, len(real), len(real))]))
            draws["content_acc"].append(float(c_ok[rows].mean()))
            draws["style_acc"].append(float(s_ok[rows].mean()))
        return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
                for k, v in draws.items()}

    def multimodality(self, generate: Generate, takes: list[data.Take], repeat: int) -> float:
        """K samples of each distinct prompt (up to 100), seeds apart from the main ones."""
        first: dict[str, float] = {}
        for t in takes:  # a prompt's duration: its first take's
            first.setdefault(data.caption(t.content, t.style),
                             float(np.clip(t.seconds, 1.0, data.MAX_SECONDS)))
        prompts = list(first)[:MM_PROMPTS]
        seconds = [first[p] for p in prompts]
        samples = [self.embed(generate(prompts, seconds, FPS, seed=10_000 * (repeat + 1) + k))[0]
                   for k in range(MM_SAMPLES)]
        return metrics.multimodality(np.stack(samples, 1), np.random.default_rng(repeat),
                                     MM_PAIRS)


def score(scorer: Scorer, generate: Generate, takes: list[data.Take], real: np.ndarray,
          repeats: int, fixed: bool = False, progress: bool = True, label: str = "") -> dict:
    """{metric: {"mean", "ci95", "repeats"[, "bootstrap95"]}} of one method on one split.
    `fixed`: the method returns the same motions every time (real): generated once, no
    multimodality."""
    prompts, seconds = held_out(takes)
    runs: dict[str, list[float]] = {}
    first = None
    for r in range(repeats):
        if r == 0 or not fixed:
            emb, positions = scorer.embed(generate(prompts, seconds, FPS, seed=r))
            first = emb if first is None else first
        for key, value in scorer.once(emb, positions, real, takes, seed=r).items():
            runs.setdefault(key, []).append(value)
        if not fixed:
            runs.setdefault("multimodality", []).append(
                scorer.multimodality(generate, takes, r))
        if progress:
            print(f"  {label}: repeat {r + 1}/{repeats}", flush=True)
    out = {key: metrics.mean_ci95(values) for key, values in runs.items()}
    for key, interval in scorer.bootstrap(first, real, takes).items():
        out[key]["bootstrap95"] = interval
    return out


def framerate_check(generate: Generate, prompts: list[str], seconds: list[float]) -> dict:
    """The same samples (seed 0) at 20, 30 and 120 fps compared at their shared timestamps
    (multiples of 0.1 s): max and mean joint distance in mm, each rate against 120 fps."""
    by_rate = {}
    for fps in FRAMERATES:
        motions = generate(prompts, seconds, fps, seed=0)
        # times in 1/120 s ticks: 0.1 s is 12 ticks at every rate checked
        by_rate[fps] = [(np.round(m.times * 120).astype(np.int64), m.joint_positions())
                        for m in motions]
    out = {}
    for fps in FRAMERATES[:-1]:
        dists = []
        for (ticks_a, pos_a), (ticks_b, pos_b) in zip(by_rate[fps], by_rate[FRAMERATES[-1]]):
            shared = np.intersect1d(ticks_a, ticks_b)
            shared = shared[shared % 12 == 0]
            a = pos_a[np.searchsorted(ticks_a, shared)]
            b = pos_b[np.searchsorted(ticks_b, shared)]
            dists.append(np.linalg.norm(a - b, axis=-1).ravel() * 1000)
        d = np.concatenate(dists)
        out[f"{fps}_vs_120"] = {"max_mm": float(d.max()), "mean_mm": float(d.mean()),
                                "timestamps": int(d.size // evaluator.JOINTS)}
    return out


def generators(methods: tuple[str, ...], model_path: Path | None, cvae_path: Path | None,
               train_takes: list[data.Take], guidance: float | None, steps: int | None
               ) -> dict[str, Generate]:
    """name -> generate(prompts, seconds, fps, seed) (real is made per split)."""
    out: dict[str, Generate] = {}
    if "retrieval" in methods:
        out["retrieval"] = Retrieval(train_takes).generate
    if "cvae" in methods:
        out["cvae"] = load_cvae(cvae_path).generate
    if "ours" in methods:
        from motionfield.methods.text2motion import infer

        model = infer.load(model_path)
        options = {"guidance": infer.DEFAULT_GUIDANCE if guidance is None else guidance,
                   "steps": infer.DEFAULT_STEPS if steps is None else steps}

        def ours(prompts, seconds, fps, seed=0):
            return model.generate(prompts, seconds, fps, seed=seed, **options)
        out["ours"] = ours
    return out


def run(split_names: str | tuple[str, ...], json_path: Path | None = None,
        model_path: Path | None = None, evaluator_path: Path | None = None,
        cvae_path: Path | None = None, repeats: int = 10, methods: tuple[str, ...] = METHODS,
        guidance: float | None = None, steps: int | None = None, data_root: Path | None = None,
        progress: bool = True) -> dict:
    """Score `methods` on the held-out splits (`split_names`: "val" or "test" for both of a
    pair, or explicit split names); write the report to `json_path`."""
    names = SPLIT_SETS.get(split_names, split_names) if isinstance(split_names, str) \
        else tuple(split_names)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not names or any(n == "train" or n not in data.SPLITS for n in names):
        raise ValueError(f"methods from {METHODS} and held-out splits from "
                         f"{data.SPLITS[1:]} please (got {methods}, {names})")
    if repeats < 1:
        raise ValueError(f"repeats {repeats}: at least 1")
    takes = data.load_takes(data_root, progress=progress)
    scorer = Scorer(evaluator.load(evaluator_path))
    gens = generators(methods, model_path, cvae_path, data.split(takes, "train"), guidance,
                      steps)
    report: dict = {"protocol": PROTOCOL, "splits": list(names), "repeats": repeats}
    for name in names:
        split_takes = data.split(takes, name)
        if len(split_takes) < 2:
            raise ValueError(f"split {name} has {len(split_takes)} takes: too few to score")
        prompts, seconds = held_out(split_takes)
        real_gen = Real(split_takes).generate
        real, _ = scorer.embed(real_gen(prompts, seconds, FPS))
        for method in methods:
            gen = real_gen if method == "real" else gens[method]
            report.setdefault(method, {})[name] = score(
                scorer, gen, split_takes, real, repeats, fixed=method == "real",
                progress=progress, label=f"{method} {name}")
    report["framerate"] = framerates(gens, takes, names[0])
    report["notes"] = [NERM_NOTE]
    if "ours" in gens:
        from motionfield.methods.text2motion import infer

        report["ours_settings"] = {
            "model": str(model_path or "shipped"),
            "guidance": infer.DEFAULT_GUIDANCE if guidance is None else guidance,
            "steps": infer.DEFAULT_STEPS if steps is None else steps}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1) + "\n")
    return report


def framerates(gens: dict[str, Generate], takes: list[data.Take], name: str) -> dict:
    """The framerate check of the continuous-time generators on a split's first 32 takes."""
    prompts, seconds = held_out(data.split(takes, name)[:32])
    return {method: framerate_check(gens[method], prompts, seconds)
            for method in ("ours", "cvae") if method in gens}


COLUMNS = (("fid", "FID", "{:.3f}"), ("top1", "top1", "{:.3f}"), ("top3", "top3", "{:.3f}"),
           ("matching", "match", "{:.3f}"), ("diversity", "div", "{:.3f}"),
           ("multimodality", "MM", "{:.3f}"), ("content_acc", "content", "{:.3f}"),
           ("style_acc", "style", "{:.3f}"), ("skating", "skate", "{:.3f}"),
           ("jitter", "jitter", "{:.1f}"))


def format_table(report: dict) -> str:
    """Each split: methods x metrics, mean ±95% half-width."""
    lines = []
    for name in report["splits"]:
        lines.append(f"-- {name}")
        lines.append(f"{'method':<10}" + "".join(f"{title:>16}" for _, title, _ in COLUMNS))
        for method in METHODS:
            row = report.get(method, {}).get(name)
            if row is None:
                continue
            cells = []
            for key, _, fmt in COLUMNS:
                cell = row.get(key)
                cells.append("-" if cell is None else
                             f"{fmt.format(cell['mean'])}±{fmt.format(cell['ci95'])}")
            lines.append(f"{method:<10}" + "".join(f"{c:>16}" for c in cells))
    for method, checks in report.get("framerate", {}).items():
        for pair, d in checks.items():
            lines.append(f"framerate {method} {pair.replace('_', ' ')}: max {d['max_mm']:.3f} "
                         f"mm, mean {d['mean_mm']:.3f} mm over {d['timestamps']} timestamps")
    return "\n".join(lines)

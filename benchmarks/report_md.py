"""results.json -> results.md: tables with the numbers, the ratios and the issue's targets."""

from __future__ import annotations

from typing import Any


def _peer(p: dict[str, Any] | None) -> str | None:
    """'skipped (reason)' / 'error: ...' for a peer that did not run, else None."""
    if not p:
        return "—"
    if p.get("status") == "skipped":
        return f"skipped ({p.get('reason', '')})"
    if p.get("status") == "error":
        return f"error: {p.get('error', '?')}"
    return None


def _range(s: dict[str, Any], fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"


def _met(target: dict[str, Any] | None) -> str:
    if not target or target.get("met") is None:
        return "—"
    return "**yes**" if target["met"] else "**no**"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def _section_problem(sec: dict[str, Any] | None) -> list[str] | None:
    if sec is None:
        return ["Not run (not selected with --only).", ""]
    if sec.get("status") == "ok":
        return None
    if sec.get("status") == "skipped":
        return [f"Skipped: {sec.get('reason')}.", ""]
    return [f"**Error**: `{sec.get('error')}` (traceback in results.json).", ""]


def header(res: dict[str, Any]) -> list[str]:
    m, run = res.get("machine", {}), res["run"]
    v = m.get("versions", {})
    rates = m.get("sgemm_gflops", {})
    lines = [
        "# digitnet benchmark results",
        "",
        f"- Command: `{run['command']}`",
        f"- Date: {run['date']} (total {run.get('total_seconds', '?')} s)",
        f"- Machine: {m.get('cpu')}, {m.get('usable_cpus')} usable CPUs, "
        f"{m.get('memory_gb')} GB RAM; {m.get('os')}; load average at start "
        f"{m.get('load_average_at_start')}",
        f"- Threads: **{m.get('threads')}** for every framework "
        f"({', '.join(f'{k}={val}' for k, val in m.get('thread_env', {}).items())}, "
        f"torch.set_num_threads({m.get('threads')}))",
        f"- Versions: Python {v.get('python')}, NumPy {v.get('numpy')} "
        f"({m.get('blas', {}).get('numpy_blas')}), PyTorch {v.get('torch') or 'absent'}, "
        f"scikit-learn {v.get('sklearn') or 'absent'}, digitnet {v.get('digitnet')} "
        f"(git {m.get('git')})",
        f"- Float32 matrix multiply ({rates.get('size')}x{rates.get('size')} sgemm, best "
        f"of {rates.get('repeats')}): NumPy **{rates.get('numpy')} GFLOPS**, PyTorch "
        f"{rates.get('torch') if rates.get('torch') is not None else '—'} GFLOPS",
        f"- Data: MNIST from `{run.get('data_dir')}`, training on the 50,000-image "
        "training split (the last 10,000 of the training file are held out for "
        "validation), testing on the 10,000 test images",
        "",
    ]
    load = m.get("load_average_at_start") or [0.0]
    if load[0] > 0.5:
        lines += [
            f"> **The machine was busy when the run started** (1-minute load average "
            f"{load[0]}): other jobs distort the timings. Run on an idle machine.",
            "",
        ]
    if run.get("quick"):
        lines += [
            "> **Quick smoke run** (`--quick`): partial epochs scaled to a full epoch, "
            "few repeats, capped accuracy runs. These numbers only show that the "
            "suite works; they are not results.",
            "",
        ]
    return lines


def targets(res: dict[str, Any]) -> list[str]:
    s = res.get("sections", {})
    rows: list[list[Any]] = []
    train = s.get("train") or {}
    for r in train.get("rows", []):
        if "target" in r:
            rows.append(
                [
                    f"training epoch, {r['model']}: digitnet / PyTorch <= "
                    f"{r['target']['max_ratio']}",
                    f"{r['ratio']:.2f}x" if "ratio" in r else _peer(r.get("torch")),
                    _met(r["target"]),
                ]
            )
    inf = s.get("inference") or {}
    for r in inf.get("rows", []):
        if "target" in r:
            rows.append(
                [
                    f"inference at batch 1000, {r['model']}: time ratio <= "
                    f"{r['target']['max_ratio']}",
                    f"{r['throughput_time_ratio']:.2f}x"
                    if "throughput_time_ratio" in r
                    else _peer(r.get("torch")),
                    _met(r["target"]),
                ]
            )
    sh = inf.get("shipped") or {}
    if sh.get("status") == "ok":
        rows.append(
            [
                f"shipped model, single-image latency <= {sh['target']['max_ms']} ms",
                f"{sh['latency']['median_ms']:.3f} ms",
                _met(sh["target"]),
            ]
        )
    elif inf:
        rows.append(["shipped model, single-image latency <= 2 ms", _peer(sh), "—"])
    seed = s.get("seed") or {}
    if seed.get("status") == "ok":
        rows.append(
            [
                f"per-sample loop / digitnet sigmoid preset >= {seed['target']['min_speedup']:g}x",
                f"{seed['speedup']:.1f}x",
                _met(seed["target"]),
            ]
        )
    mem = s.get("memory") or {}
    for r in mem.get("rows", []):
        if "target" in r:
            rows.append(
                [
                    f"peak memory, {r['preset']} training < {r['target']['max_mb']:g} MB",
                    f"{r['peak_rss_mb']:.0f} MB",
                    _met(r["target"]),
                ]
            )
    if not rows:
        return []
    return ["## Targets (issue 6)", "", *_table(["target", "measured", "met"], rows)]


def train_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 1. Training time per epoch", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    out += [
        f"Seconds per epoch of {sec['images_per_epoch']:,} images: median of "
        f"{sec['measured_epochs']} epochs (min–max) after {sec['warmup_epochs']} warm-up "
        f"epoch(s), batch {sec['batch_size']}, {sec['optimizer']}, float32, "
        f"augmentation: {sec['augmentation']}. digitnet runs its own trainer "
        "(`digitnet.training.loop.fit`); PyTorch the equivalent loop (shuffled order, "
        "per-batch "
        "gather from uint8, /255, forward, cross-entropy, backward, step). The two "
        "frameworks' epochs alternate."
        + (
            f" **Measured on {sec['measured_images']:,} images and scaled.**"
            if sec.get("scaled")
            else ""
        ),
        "",
    ]
    rows = []
    for r in sec["rows"]:
        d, t = r["digitnet"], r.get("torch")
        tcell = _peer(t) or _range(t["seconds"])
        rows.append(
            [
                r["model"],
                r.get("architecture", "?"),
                f"{r.get('parameters', 0):,}",
                _peer(d) or _range(d["seconds"]),
                tcell,
                f"{r['ratio']:.2f}x" if "ratio" in r else "—",
                f"<= {r['target']['max_ratio']}" if "target" in r else "—",
                _met(r.get("target")),
            ]
        )
    return out + _table(
        [
            "model",
            "architecture",
            "parameters",
            "digitnet s/epoch",
            "PyTorch s/epoch",
            "ratio",
            "target",
            "met",
        ],
        rows,
    )


def inference_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 2. Inference", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    out += [
        f"Throughput: images per second classifying {sec['images']:,} test images in "
        f"batches of {sec['batch_size']} (float32 input prepared beforehand; PyTorch in "
        "`eval()` and `torch.inference_mode()`), median (min–max) of the repeats. "
        "Latency: one image per call, median (p90) in ms. Ratios are digitnet time / "
        "PyTorch time.",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        d, t = r["digitnet"], r.get("torch")
        if _peer(d):
            rows.append([r["model"], _peer(d)] + [""] * 7)
            continue
        miss = _peer(t)
        rows.append(
            [
                r["model"],
                _range(d["images_per_second"], "{:,.0f}"),
                miss or _range(t["images_per_second"], "{:,.0f}"),
                f"{r['throughput_time_ratio']:.2f}x" if "throughput_time_ratio" in r else "—",
                f"<= {r['target']['max_ratio']}" if "target" in r else "—",
                _met(r.get("target")),
                f"{d['latency']['median_ms']:.3f} ({d['latency']['p90_ms']:.3f})",
                miss or f"{t['latency']['median_ms']:.3f} ({t['latency']['p90_ms']:.3f})",
                f"{r['latency_ratio']:.2f}x" if "latency_ratio" in r else "—",
            ]
        )
    out += _table(
        [
            "model",
            "digitnet img/s",
            "PyTorch img/s",
            "time ratio",
            "target",
            "met",
            "digitnet ms",
            "PyTorch ms",
            "latency ratio",
        ],
        rows,
    )
    sh = sec.get("shipped") or {}
    if sh.get("status") == "ok":
        out += [
            f"Shipped model (`{sh['path']}`, {sh['kind']}, preset {sh.get('preset')}): "
            f"{_range(sh['images_per_second'], '{:,.0f}')} images/s; single image end to "
            f"end (uint8 -> probabilities, as `digitnet predict` does) "
            f"**{sh['latency']['median_ms']:.3f} ms** median "
            f"(p90 {sh['latency']['p90_ms']:.3f}); target <= {sh['target']['max_ms']} ms: "
            f"{_met(sh['target'])}.",
            "",
        ]
    else:
        out += [f"Shipped model: {_peer(sh)}.", ""]
    return out


def target_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 3. Time to target accuracy", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    out += [
        "Training seconds (evaluation excluded) until the **test** accuracy, measured "
        "after each epoch, first reaches the target. digitnet trains the preset as "
        "`digitnet train` does (its optimizer, weight decay and learning-rate schedule "
        "over the capped number of epochs); PyTorch starts from the same initial "
        "weights and replays the same shuffled order, optimizer, weight decay (weights "
        "only) and per-batch learning rate (its momentum buffers rescaled when the "
        "learning rate changes, so that its update is digitnet's: both follow the same "
        "trajectory up to float32 rounding); scikit-learn's `MLPClassifier` has the same "
        f"hidden layers, batch 128 and its default solver, {sec['sklearn_solver']}, one "
        "`partial_fit` epoch at a time on pre-scaled float32 input. The frameworks' "
        "epochs alternate.",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        for who, label in (
            ("digitnet", "digitnet"),
            ("torch", "PyTorch"),
            ("sklearn", "scikit-learn"),
        ):
            if who not in r:
                continue
            p = r[who]
            miss = _peer(p)
            if miss:
                rows.append([r["model"], f"{r['target']:.1%}", label, miss, "", "", ""])
                continue
            reached = (
                f"yes, epoch {p['epochs']}"
                if p["reached"]
                else f"not reached in {p['epochs']} epoch{'s' if p['epochs'] != 1 else ''}"
            )
            rows.append(
                [
                    r["model"],
                    f"{r['target']:.1%}",
                    label,
                    reached,
                    f"{p['train_seconds']:.1f}",
                    f"{p['best_test_accuracy']:.2%}",
                    f"{r['cap_epochs']}",
                ]
            )
        notes = "; ".join(r.get("notes") or [])
        st = r["settings"]
        out_note = (
            f"{r['model']}: {st['optimizer']} lr {st['lr']}, momentum "
            f"{st['momentum']}, weight decay {st['weight_decay']}, {st['schedule']} "
            f"schedule, warm-up {st['warmup']}, batch {st['batch_size']}, "
            f"{r['train_images']:,} training images" + (f"; {notes}" if notes else "")
        )
        out.append(f"- {out_note}")
    out.append("")
    return out + _table(
        ["model", "target", "framework", "reached", "training s", "best test acc.", "epoch cap"],
        rows,
    )


def seed_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 4. The seeds' per-sample loop", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    s, p, same = sec["seed"], sec["preset"], sec["same_network"]
    out += [
        "Seconds per 50,000-image epoch, median (min–max). The per-sample loop is written "
        "in the benchmark (`benchmarks/seed_loop.py`) in the seed projects' style: "
        "column vectors and a Python loop back-propagating each example of a mini-batch "
        "separately."
        + (
            f" It was timed on {s['timed_examples']:,} examples and scaled to the epoch."
            if s["scaled"]
            else ""
        )
        + (
            f" digitnet was timed on {sec['digitnet_measured_images']:,} images and scaled."
            if sec.get("digitnet_scaled")
            else ""
        )
        + f" Test accuracy of the per-sample network after its timed training: "
        f"{s['test_accuracy_after_timed_training']:.2%} (it learns).",
        "",
    ]
    gf, rate = sec.get("gflop_per_epoch", {}), sec.get("gflops", {})

    def work(key: str) -> list[str]:
        return [f"{gf[key]:.1f}", f"{rate[key]:.2f}"] if key in gf else ["—", "—"]

    rows = [
        [
            "per-sample loop (seed style)",
            s["network"],
            _range(s["seconds_per_epoch"]),
            "1x",
            *work("seed"),
        ],
        [
            "digitnet `sigmoid` preset",
            p["network"],
            _range(p["seconds_per_epoch"]),
            f"**{sec['speedup']:.1f}x**",
            *work("preset"),
        ],
        [
            "digitnet, the same network",
            same["network"],
            _range(same["seconds_per_epoch"]),
            f"{same['speedup']:.1f}x",
            *work("same"),
        ],
    ]
    out += _table(["", "network", "s/epoch", "speed-up vs the loop", "GFLOP/epoch", "GFLOPS"], rows)
    out += [
        "The preset is a larger network than the loop's (see GFLOP/epoch, matrix products "
        "counted as in section 6): its speed-up per epoch understates the speed-up per "
        "unit of work, which is the ratio of the GFLOPS column.",
        "",
    ]
    out += [
        f"Target: the `sigmoid` preset >= {sec['target']['min_speedup']:g}x faster per "
        f"epoch than the loop: {_met(sec['target'])}.",
        "",
    ]
    return out


def memory_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 5. Peak memory", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    c = sec["first_epoch_check"]
    out += [
        f"Peak resident set size (max RSS) of `{sec['command']}`, each in a fresh "
        "process (read with `os.wait4` in a small wrapper process, so each figure is that "
        "run's own; MB = 10^6 bytes). Baseline (Python + NumPy + "
        f"MNIST loaded, no training): {sec['baseline']['peak_rss_mb']} MB.",
        "",
        f"Is the peak reached in the first epoch(s)? {c['preset']} took {c['mb']} MB for "
        f"{c['epochs']} epoch(s) and {c['more_mb']} MB for {c['more_epochs']} "
        f"({'?' if c['growth'] is None else format(c['growth'], '+.1%')}): "
        + (
            "yes, so these figures stand for full training runs."
            if c["peak_in_first_epochs"]
            else "**no (or the check failed): the peak grew with more epochs, so these figures "
            "may underestimate full runs.**"
        ),
        "",
    ]
    rows = [
        [
            r["preset"],
            r["epochs"],
            "—" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}",
            f"{r['wall_seconds']:.1f}",
            "ok" if r["status"] == "ok" else f"exit {r['exit_code']}",
            f"< {r['target']['max_mb']:g}" if "target" in r else "—",
            _met(r.get("target")),
        ]
        for r in sec["rows"]
    ]
    return out + _table(
        ["preset", "epochs", "peak RSS (MB)", "wall s", "run", "target (MB)", "met"], rows
    )


def efficiency_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 6. Efficiency", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    rates = sec["sgemm_gflops"]
    out += [
        f"Floating-point operations of one training epoch ({sec['counted']}) divided by "
        "the median epoch time of section 1, next to the measured float32 "
        f"matrix-multiply rate: NumPy {rates.get('numpy')} GFLOPS, PyTorch "
        f"{rates.get('torch')} GFLOPS (each framework against its own BLAS).",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        cells = [r["model"], f"{r['gflop_per_epoch']:,.1f}"]
        for who in ("digitnet", "torch"):
            p = r[who]
            miss = _peer(p)
            cells += (
                [miss, ""]
                if miss
                else [
                    f"{p['gflops']:.1f}",
                    f"{p['percent_of_sgemm']:.0f}%" if p["percent_of_sgemm"] is not None else "—",
                ]
            )
        rows.append(cells)
    return out + _table(
        [
            "model",
            "GFLOP/epoch",
            "digitnet GFLOPS",
            "% of NumPy sgemm",
            "PyTorch GFLOPS",
            "% of PyTorch sgemm",
        ],
        rows,
    )


def augment_section(sec: dict[str, Any] | None) -> list[str]:
    out = ["## 7. Augmentation overhead", ""]
    problem = _section_problem(sec)
    if problem:
        return out + problem
    out += [
        "Random distortions are computed per mini-batch, on the fly. One training epoch "
        "of each augmenting preset with and without its augmentation (fastest of two, "
        "alternated), and the "
        "augmenter's own time over the same number of batches (timed alone), as a share "
        "of the plain epoch:",
        "",
    ]
    rows = [
        [
            r["preset"],
            ", ".join(f"{k} {v:g}" for k, v in r["settings"].items()),
            f"{r['epoch_without_s']:.2f}",
            f"{r['epoch_with_s']:.2f}",
            f"{r['augmenter_alone_s']:.2f}",
            f"{r['overhead_percent']:.1f}%",
        ]
        for r in sec["rows"]
    ]
    return out + _table(
        [
            "preset",
            "distortions",
            "epoch without (s)",
            "epoch with (s)",
            "augmenter alone (s)",
            "overhead",
        ],
        rows,
    )


def twin_section(res: dict[str, Any]) -> list[str]:
    train = (res.get("sections") or {}).get("train") or {}
    rows = []
    for r in train.get("rows", []):
        c = r.get("twin_check")
        if c:
            e = c["max_rel_error"]
            rows.append(
                [
                    r["model"],
                    f"{e['f64_eval_logits']:.1e}",
                    f"{e['f64_train_logits']:.1e}",
                    f"{e['f64_loss']:.1e}",
                    f"{e['f64_grads']:.1e}",
                    f"{e['f64_running_stats']:.1e}",
                    f"{e['f32_eval_logits']:.1e}",
                    "yes" if c["ok"] else "**NO**",
                ]
            )
    if not rows:
        return []
    tol = train["rows"][0]["twin_check"]["tolerance"]
    return [
        "## The PyTorch twins",
        "",
        "Each PyTorch model is built from the digitnet model's config and given its "
        "weights; before timing, both run the same 64 test images. Maximum relative "
        f"errors (float64 with dropout off, tolerance {tol['float64']:g}; the float32 "
        f"instances that are timed, tolerance {tol['float32']:g}):",
        "",
        *_table(
            [
                "model",
                "eval logits",
                "train logits",
                "loss",
                "gradients",
                "BN running stats",
                "float32 logits",
                "match",
            ],
            rows,
        ),
    ]


def render(res: dict[str, Any]) -> str:
    s = res.get("sections", {})
    lines = header(res) + targets(res)
    lines += train_section(s.get("train")) + inference_section(s.get("inference"))
    lines += target_section(s.get("target")) + seed_section(s.get("seed"))
    lines += memory_section(s.get("memory")) + efficiency_section(s.get("efficiency"))
    lines += augment_section(s.get("augment")) + twin_section(res)
    return "\n".join(lines).rstrip() + "\n"

//! Claims, controls, tables and figures of the abx eval, from the checkpoint × layer grid.

use super::AbxPlan;
use super::train::{ALPHA, Data, Point, Trained};
use crate::checkpoint::{layer_labels, plot_pair_heatmap};
use crate::text::{ParallelEmbeddings, text_abx};
use anyhow::{Context, Result};
use ember_core::eval::EvalRun;
use ember_core::metrics::spearman;
use ember_core::report::plot::{self, Heatmap, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use ember_core::seed::Seed;
use rand::RngExt;
use rand::seq::SliceRandom;
use std::path::Path;

/// Report title.
pub const TITLE: &str = "ABX discrimination of form and meaning in a small multilingual MLM";

/// The grid indexed by (step, layer), with the analysed steps and the layer halves.
struct Grid<'a> {
    points: &'a [Point],
    /// Analysed checkpoints, increasing.
    steps: Vec<usize>,
    /// Hidden states (`n_layers + 1`).
    n_h: usize,
    /// Layers above the middle block.
    upper: Vec<usize>,
    /// Embeddings up to the middle block.
    lower: Vec<usize>,
}

impl<'a> Grid<'a> {
    fn new(plan: &AbxPlan, points: &'a [Point]) -> Result<Self> {
        let steps: Vec<usize> = plan
            .checkpoints
            .iter()
            .copied()
            .filter(|s| points.iter().any(|p| p.step == *s))
            .collect();
        anyhow::ensure!(
            steps.len() >= 2,
            "need at least two analysed checkpoints (resume after the end?)"
        );
        let n_h = plan.n_layers + 1;
        Ok(Grid {
            points,
            steps,
            n_h,
            upper: (0..n_h).filter(|&l| l > plan.n_layers / 2).collect(),
            lower: (0..n_h).filter(|&l| l <= plan.n_layers / 2).collect(),
        })
    }

    fn at(&self, s: usize, l: usize) -> &'a Point {
        self.points
            .iter()
            .find(|p| p.step == s && p.layer == l)
            .expect("grid point")
    }

    fn mean_over(&self, s: usize, ls: &[usize], f: &dyn Fn(&Point) -> f64) -> f64 {
        ls.iter().map(|&l| f(self.at(s, l))).sum::<f64>() / ls.len() as f64
    }

    fn first(&self) -> usize {
        self.steps[0]
    }

    fn last(&self) -> usize {
        *self.steps.last().expect("steps")
    }
}

/// The controls at the final checkpoint: random features, and shuffled meaning alignment.
struct Controls {
    rand_ld: f64,
    rand_md: f64,
    shuf_md_mean: f64,
    shuf_dld_max: f64,
    /// (layer, LD, LD shuffled, MD, MD shuffled).
    rows: Vec<(usize, f64, f64, f64, f64)>,
}

impl Controls {
    fn holds(&self) -> bool {
        (self.rand_ld - 0.5).abs() <= 0.03
            && (self.rand_md - 0.5).abs() <= 0.03
            && (self.shuf_md_mean - 0.5).abs() <= 0.05
            && self.shuf_dld_max <= 0.05
    }
}

fn controls(
    run: &EvalRun,
    plan: &AbxPlan,
    data: &Data,
    trained: &Trained,
    g: &Grid,
) -> Result<Controls> {
    let (names, n, d) = (&data.names, plan.eval_n, plan.d_model);
    let mut rng = Seed::new(run.seed()).derive("random-features").rng();
    let rand_feats: Vec<f32> = (0..plan.langs * n * d)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let (rld, rmd) = text_abx(&ParallelEmbeddings::new(names.clone(), n, d, rand_feats)?)?;
    let mut shuf_md = Vec::new();
    let mut shuf_dld = Vec::new();
    let mut rows = Vec::new();
    for (li, v) in trained.final_layers.iter().enumerate() {
        let mut shuffled = v.clone();
        for l in 1..plan.langs {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let src = v[l * n * d..(l + 1) * n * d].to_vec();
            for (m, &p) in perm.iter().enumerate() {
                shuffled[(l * n + m) * d..(l * n + m + 1) * d]
                    .copy_from_slice(&src[p * d..(p + 1) * d]);
            }
        }
        let (sld, smd) = text_abx(&ParallelEmbeddings::new(names.clone(), n, d, shuffled)?)?;
        let p = g.at(g.last(), li);
        shuf_md.push(smd.mean_error());
        shuf_dld.push((sld.mean_error() - p.ld).abs());
        rows.push((li, p.ld, sld.mean_error(), p.md, smd.mean_error()));
    }
    Ok(Controls {
        rand_ld: rld.mean_error(),
        rand_md: rmd.mean_error(),
        shuf_md_mean: shuf_md.iter().sum::<f64>() / shuf_md.len() as f64,
        shuf_dld_max: shuf_dld.iter().cloned().fold(0.0, f64::max),
        rows,
    })
}

/// Claims (fixed before any run), metrics, tables, figures and notes of the abx eval.
pub fn build(run: &EvalRun, plan: &AbxPlan, data: &Data, trained: &Trained) -> Result<Report> {
    let g = Grid::new(plan, &trained.grid)?;
    let (upper, lower) = (&g.upper, &g.lower);
    let (first, last) = (g.first(), g.last());

    // claim 1: LD in the deeper layers declines; ends strongest in the lower layers
    let ld_deep_first = g.mean_over(first, upper, &|p| p.ld);
    let ld_deep_last = g.mean_over(last, upper, &|p| p.ld);
    let ld_low_last = g.mean_over(last, lower, &|p| p.ld);
    let c1a = ld_deep_last - ld_deep_first >= 0.02;
    let c1b = ld_low_last < ld_deep_last;
    // claim 2: MD improves over training and is best in the deeper layers
    let md_deep_first = g.mean_over(first, upper, &|p| p.md);
    let md_deep_last = g.mean_over(last, upper, &|p| p.md);
    let best_md_layer = (0..g.n_h)
        .min_by(|&a, &b| g.at(last, a).md.total_cmp(&g.at(last, b).md))
        .expect("layers");
    let c2a = md_deep_first - md_deep_last >= 0.05;
    let c2b = upper.contains(&best_md_layer);
    // claim 3: controls at the final checkpoint
    let ctl = controls(run, plan, data, trained, &g)?;
    let c3 = ctl.holds();

    // probing analogues: correlations over the checkpoint × layer grid
    let grid = &trained.grid;
    let md_score: Vec<f64> = grid.iter().map(|p| 1.0 - p.md).collect();
    let ld_score: Vec<f64> = grid.iter().map(|p| 1.0 - p.ld).collect();
    let top1: Vec<f64> = grid.iter().map(|p| p.top1).collect();
    let probe: Vec<f64> = grid.iter().map(|p| p.probe).collect();
    let rho_md_top1 = spearman(&md_score, &top1).unwrap_or(f64::NAN);
    let rho_md_probe = spearman(&md_score, &probe).unwrap_or(f64::NAN);
    let rho_ld_probe = spearman(&ld_score, &probe).unwrap_or(f64::NAN);
    let rho_ld_md = spearman(&ld_score, &md_score).unwrap_or(f64::NAN);

    let mut report = run.report("P2", TITLE);
    report.add_claim(
        Claim::new(
            "ld-declines-lower-layers",
            "Language discrimination in the deeper layers declines over training and ends strongest in the lower layers",
            format!(
                "mean LD error of the upper layers ({upper:?}) at the last checkpoint; holds if it rose by ≥ 0.02 from step {first} AND the lower layers ({lower:?}) end with a lower mean LD error than the upper ones"
            ),
            ld_deep_last,
            c1a && c1b,
        )
        .baseline(ld_deep_first, format!("upper-layer LD error at step {first}"))
        .detail(format!("rise {:+.3} (≥0.02: {c1a}); final lower-layer LD error {ld_low_last:.3} vs upper {ld_deep_last:.3} ({c1b})", ld_deep_last - ld_deep_first)),
    );
    let best = g.at(last, best_md_layer);
    report.add_claim(
        Claim::new(
            "md-improves-deeper-layers",
            "Meaning discrimination improves over training and is best in the deeper layers",
            format!(
                "mean MD error of the upper layers ({upper:?}) at the last checkpoint; holds if it fell by ≥ 0.05 from step {first} AND the layer with the lowest MD error at the last checkpoint is an upper layer"
            ),
            md_deep_last,
            c2a && c2b,
        )
        .baseline(md_deep_first, format!("upper-layer MD error at step {first}"))
        .detail(format!("drop {:.3} (≥0.05: {c2a}); best layer {best_md_layer} ({c2b}); 95% CI of the best layer [{:.3}, {:.3}]", md_deep_first - md_deep_last, best.md_lo, best.md_hi)),
    );
    report.add_claim(
        Claim::new(
            "controls",
            "Random features give ABX error ≈ 0.5; shuffling the meaning alignment breaks MD but not LD",
            "holds if random-feature LD and MD errors are within 0.03 of 0.5, the shuffled-alignment MD error (mean over layers, last checkpoint) is within 0.05 of 0.5, and no layer's LD error moves by more than 0.05 under the shuffle",
            ctl.shuf_md_mean,
            c3,
        )
        .baseline(0.5, "chance")
        .detail(format!(
            "random LD {:.3}, random MD {:.3}; shuffled MD {:.3}; max |ΔLD| {:.3}",
            ctl.rand_ld, ctl.rand_md, ctl.shuf_md_mean, ctl.shuf_dld_max
        )),
    );
    report.add_metric("spearman_md_score_vs_top1", rho_md_top1);
    report.add_metric("spearman_md_score_vs_probe", rho_md_probe);
    report.add_metric("spearman_ld_score_vs_probe", rho_ld_probe);
    report.add_metric("spearman_ld_score_vs_md_score", rho_ld_md);
    report.add_metric("random_ld_error", ctl.rand_ld);
    report.add_metric("random_md_error", ctl.rand_md);
    report.add_metric("parameters", trained.n_params as f64);
    report.add_metric("train_seconds", trained.train_s);
    report.add_metric("analysis_seconds", trained.analysis_s);

    add_tables(&mut report, grid, &ctl.rows);
    add_figures(&mut report, run.out(), plan, data, trained, &g)?;
    report.add_note(format!(
        "{} synthlang languages (graded closeness, anchors on, code-switch rate {}), monolingual streams of {:?} sentences sampled with α = {ALPHA}; MLM d={} layers={} ({} parameters), {} steps of batch {}; evaluation: {} held-out parallel meanings; cosine on mean-pooled states (BOS/EOS excluded); probe: ridge (λ=1e-2) for tense fit on {} and tested on the other languages",
        plan.langs,
        plan.code_switch,
        data.sizes,
        plan.d_model,
        plan.n_layers,
        trained.n_params,
        trained.total,
        plan.batch,
        plan.eval_n,
        data.names[0]
    ));
    eprintln!(
        "claims: LD {} MD {} controls {c3}; ρ(MD,top1) {rho_md_top1:.2} ρ(MD,probe) {rho_md_probe:.2} ρ(LD,MD) {rho_ld_md:.2}; train {:.0}s analysis {:.0}s",
        c1a && c1b,
        c2a && c2b,
        trained.train_s,
        trained.analysis_s,
    );
    Ok(report)
}

fn add_tables(report: &mut Report, grid: &[Point], shuf_rows: &[(usize, f64, f64, f64, f64)]) {
    let mut t = Table::new(
        "ABX error per checkpoint × layer (ties ½; 95 % bootstrap CI over sentences), retrieval top-1 and cross-lingual tense probe",
        [
            "step",
            "layer",
            "LD error",
            "LD CI",
            "MD error",
            "MD CI",
            "top-1",
            "probe acc",
        ],
    );
    for p in grid {
        t.add_row(vec![
            Cell::from(p.step as f64),
            Cell::from(p.layer as f64),
            Cell::from(p.ld),
            Cell::from(format!("[{:.3}, {:.3}]", p.ld_lo, p.ld_hi)),
            Cell::from(p.md),
            Cell::from(format!("[{:.3}, {:.3}]", p.md_lo, p.md_hi)),
            Cell::from(p.top1),
            Cell::from(p.probe),
        ]);
    }
    report.add_table(t);
    let mut t = Table::new(
        "Shuffled meaning alignment at the last checkpoint (languages 1.. permuted)",
        [
            "layer",
            "LD error",
            "LD shuffled",
            "MD error",
            "MD shuffled",
        ],
    );
    for &(l, a, b, c, e) in shuf_rows {
        t.add_row(vec![
            Cell::from(l as f64),
            Cell::from(a),
            Cell::from(b),
            Cell::from(c),
            Cell::from(e),
        ]);
    }
    report.add_table(t);
}

fn add_figures(
    report: &mut Report,
    out: &Path,
    plan: &AbxPlan,
    data: &Data,
    trained: &Trained,
    g: &Grid,
) -> Result<()> {
    let (steps, n_h, last) = (&g.steps, g.n_h, g.last());
    let xt: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    let yt = layer_labels(n_h);
    for (file, title, f) in [
        (
            "ld_heatmap.png",
            "Language discrimination: ABX error (ON language, ACROSS meaning)",
            (|p: &Point| p.ld) as fn(&Point) -> f64,
        ),
        (
            "md_heatmap.png",
            "Meaning discrimination: ABX error (ON meaning, ACROSS language)",
            |p: &Point| p.md,
        ),
    ] {
        let values: Vec<Vec<f64>> = (0..n_h)
            .map(|l| steps.iter().map(|&s| f(g.at(s, l))).collect())
            .collect();
        plot::heatmap(
            out.join(file),
            &Heatmap {
                title: title.into(),
                x_label: "training step".into(),
                y_label: "layer".into(),
                x_ticks: xt.clone(),
                y_ticks: yt.clone(),
                values,
                value_range: Some((0.0, 0.5)),
                annotate: true,
            },
        )
        .with_context(|| format!("plotting {file}"))?;
        report.add_figure(Figure::new(
            title,
            file,
            "rows: hidden state (emb = embeddings); columns: checkpoints; lower = better discrimination",
        ));
    }
    let top = g.at(last, plan.n_layers);
    for (file, title, mat) in [
        (
            "ld_pairs_last.png",
            format!(
                "LD error per ordered pair (row = A's language), step {last}, layer {}",
                plan.n_layers
            ),
            top.ld_pairs.clone(),
        ),
        (
            "md_pairs_last.png",
            format!(
                "MD error per ordered pair (row = A/B's language), step {last}, layer {}",
                plan.n_layers
            ),
            top.md_pairs.clone(),
        ),
    ] {
        plot_pair_heatmap(out.join(file), &title, &data.names, mat)?;
        report.add_figure(Figure::new(
            title,
            file,
            "per-pair errors at the last checkpoint, last layer",
        ));
    }
    let series = |f: fn(&Point) -> f64, l: usize, name: &str| {
        Series::new(
            format!("{name} L{l}"),
            steps
                .iter()
                .map(|&s| ((s.max(1)) as f64, f(g.at(s, l))))
                .collect(),
        )
    };
    let mut s = Vec::new();
    for l in 0..n_h {
        s.push(series(|p| 1.0 - p.md, l, "MD score"));
    }
    for l in 0..n_h {
        s.push(series(|p| p.top1, l, "top-1"));
    }
    plot::line(
        out.join("md_vs_retrieval.png"),
        &LinePlot {
            title: "MD score (1 − error) and top-1 retrieval per layer".into(),
            x_label: "step (0 drawn at 1)".into(),
            y_label: "score".into(),
            series: s,
            log_x: true,
        },
    )?;
    report.add_figure(Figure::new(
        "MD vs retrieval",
        "md_vs_retrieval.png",
        "the probing analogue tracks MD",
    ));
    plot::line(
        out.join("loss.png"),
        &LinePlot {
            title: "MLM loss (last batch)".into(),
            x_label: "step".into(),
            y_label: "masked CE (nats)".into(),
            series: vec![Series::new("train", trained.losses.clone())],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "MLM loss",
        "loss.png",
        "training loss at each checkpoint",
    ));
    Ok(())
}

//! The experiment behind `cargo xtask eval proxy-fda`: concept forgetting when fine-tuning a
//! small CNN pre-trained on attribute tasks (colour, texture, size, coarse shape) on a new task
//! (fine shape), with naive FT, LP-FT, L2-SP, LDIFS, FDA, Proxy-FDA and WiSE-FT.
//!
//! Images are rendered, written as PNG and read back through the ImageFolder reader.
//! Forgetting = Δ_LP on held-out prior tasks; distances = OTDD-lite (Sinkhorn) and mean squared
//! L2 between pre-trained and fine-tuned features. The stages (data, pre-training, one seed's
//! fine-tuning runs) live in [`stages`]; [`run`] averages the seeds and judges the claims.
//!
//! [`run_checkpoint`] is the binary's other mode (`--model DIR --data DIR`): the same methods
//! on a user's CLIP checkpoint and images, through [`crate::checkpoint`].

pub mod stages;

pub use stages::{RunResult, average, run_seed, select};

use crate::checkpoint::{CheckpointFt, report_header};
use anyhow::{Context, Result};
use ember_core::eval::{EvalArgs, EvalRun, Scale, check};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use serde::{Deserialize, Serialize};
use stages::{D, PROBE_TASKS, mean};
use std::path::PathBuf;

/// Sizes and schedule of the proxy-fda eval; defaults per scale, overridable with `--config`
/// / `--set`. The methods' λ grids and the training constants are fixed in [`stages`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyFdaPlan {
    /// Side of the rendered square images, pixels.
    pub side: u32,
    /// Pre-training images (colour, texture, size bin, shape group).
    pub n_pre: usize,
    /// Fine-tuning images (fine shape, 8 classes, balanced).
    pub n_ft: usize,
    /// Probe images for Δ_LP (half train the probe, half score it); also the size of the
    /// fine-shape test set.
    pub n_probe: usize,
    /// Pre-training optimizer steps (batch 64).
    pub pre_steps: usize,
    /// Fine-tuning steps per method (8 × 4 class-balanced batches).
    pub ft_steps: usize,
    /// LP-FT's linear-probe stage steps before its fine-tuning.
    pub lp_steps: usize,
    /// Repeats averaged, repeat `i` seeded by `Seed::new(--seed).index(i)`.
    pub seeds: usize,
    /// λ values per regularised method: 3 runs the whole grid, 2 its ends.
    pub lambdas: usize,
}

impl ember_core::eval::Plan for ProxyFdaPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => ProxyFdaPlan {
                side: 32,
                n_pre: 960,
                n_ft: 256,
                n_probe: 480,
                pre_steps: 400,
                ft_steps: 300,
                lp_steps: 60,
                seeds: 1,
                lambdas: 2,
            },
            Scale::Full => ProxyFdaPlan {
                side: 32,
                n_pre: 4000,
                n_ft: 512,
                n_probe: 1200,
                pre_steps: 2000,
                ft_steps: 800,
                lp_steps: 150,
                seeds: 3,
                lambdas: 3,
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(self.side >= 8, "side", "must be at least 8 pixels")?;
        check(self.n_pre >= 1, "n_pre", "must be at least 1")?;
        check(
            self.n_ft >= crate::synth::N_SHAPES,
            "n_ft",
            format_args!(
                "must be at least {} (one image per fine-shape class)",
                crate::synth::N_SHAPES
            ),
        )?;
        check(
            self.n_probe >= 4,
            "n_probe",
            "must be at least 4 (two to train the probe, two to score it)",
        )?;
        check(self.pre_steps >= 1, "pre_steps", "must be at least 1")?;
        check(self.ft_steps >= 1, "ft_steps", "must be at least 1")?;
        check(self.lp_steps >= 1, "lp_steps", "must be at least 1")?;
        check(self.seeds >= 1, "seeds", "must be at least 1")?;
        check(
            self.lambdas == 2 || self.lambdas == 3,
            "lambdas",
            "must be 2 (the grid's ends) or 3 (the whole grid)",
        )
    }
}

/// Runs the proxy-fda eval with `plan` and returns its report (written by
/// [`EvalRun::finish`]): every seed's runs, averaged, then the three claims, the table, the
/// metrics and four figures under `--out`.
pub fn run(run: &EvalRun, plan: &ProxyFdaPlan) -> Result<Report> {
    let mut all = Vec::new();
    for repeat in 0..plan.seeds as u64 {
        all.push(run_seed(run, plan, repeat)?);
    }
    let res = average(&all);
    let mut report = run.report(
        "P1",
        "Proxy-FDA: kNN-graph feature alignment against concept forgetting",
    );
    let picked = Selected::pick(&res)?;
    let (rho_ot, rho_l2) = add_claims(&mut report, &res, &picked)?;
    add_table_and_metrics(&mut report, &res, &picked, rho_ot, rho_l2);
    add_figures(&mut report, run, &all, &res, &picked, rho_ot, rho_l2)?;
    report.add_note(format!(
        "{} seed(s); {}x{} PNG images written and read back through the ImageFolder reader; CnnEncoder [16,32,64]→{D} pre-trained {} steps on colour/texture/size-bin/shape-group, fine-tuned {} steps on fine shape (8 classes, {} images) with 8×4 class-balanced batches (hard class mining), K=8, τ=0.1, calibrated bias, n_p=4.",
        plan.seeds, plan.side, plan.side, plan.pre_steps, plan.ft_steps, plan.n_ft
    ));
    Ok(report)
}

/// The binary's `--model` mode: runs `job` on the device of `args`, seeded by `--seed`, with
/// each method's checkpoints under `<out>/runs` (emptied unless `--resume`), and writes its
/// report (a measurement, no claims) into `--out`; returns the path of `report.json`.
/// `--config` and `--set` are rejected: they change the synthetic eval's plan, unused here.
pub fn run_checkpoint(args: &EvalArgs, job: &CheckpointFt) -> Result<PathBuf> {
    anyhow::ensure!(
        args.config.is_none() && args.overrides.is_empty(),
        "--config and --set change the synthetic eval's plan; with --model use --steps, --lr, --method, ... instead"
    );
    let (kind, device) = args.setup()?;
    let mut job = job.clone();
    job.seed = args.seed;
    job.run_dir = Some(args.run_dir("runs")?);
    let res = job.run(&device)?;
    let header = report_header(kind.name()).with_seed(args.seed);
    let path = res.write_report(header, &args.out)?;
    eprintln!("report {}", path.display());
    Ok(path)
}

/// The runs the claims compare: naive FT and the selected λ of each regularised family.
struct Selected<'a> {
    naive: &'a RunResult,
    pfda: &'a RunResult,
    fda: &'a RunResult,
    ldifs: &'a RunResult,
}

impl<'a> Selected<'a> {
    fn pick(res: &'a [RunResult]) -> Result<Self> {
        let naive = res
            .iter()
            .find(|r| r.family == "naive FT")
            .context("naive")?;
        Ok(Selected {
            naive,
            pfda: select(res, "Proxy-FDA", naive.ft_acc),
            fda: select(res, "FDA", naive.ft_acc),
            ldifs: select(res, "LDIFS", naive.ft_acc),
        })
    }
}

/// The three claims; returns the Spearman ρ of OT and of L2 against forgetting.
fn add_claims(report: &mut Report, res: &[RunResult], s: &Selected) -> Result<(f64, f64)> {
    let Selected {
        naive,
        pfda,
        fda,
        ldifs,
    } = *s;
    let comparable = pfda.ft_acc >= naive.ft_acc - 3.0;
    report.add_claim(
        Claim::new(
            "proxy-fda-forgets-less",
            "Proxy-FDA forgets less (higher Δ_LP on held-out prior tasks) than naive fine-tuning and LDIFS at comparable fine-tuning accuracy",
            "mean Δ_LP (points) over colour, texture, colour×texture, size-bin probes; per family the λ with best Δ_LP among runs within 3 points of naive FT accuracy (else the most accurate); holds if Proxy-FDA's Δ_LP > naive's and > LDIFS's and its FT accuracy is within 3 points of naive",
            pfda.mean_dlp(),
            comparable && pfda.mean_dlp() > naive.mean_dlp() && pfda.mean_dlp() > ldifs.mean_dlp(),
        )
        .baseline(ldifs.mean_dlp(), format!("{} (naive FT {:+.2})", ldifs.method, naive.mean_dlp()))
        .detail(format!(
            "{}: FT acc {:.1}%; {}: {:.1}%; naive FT: {:.1}%",
            pfda.method, pfda.ft_acc, ldifs.method, ldifs.ft_acc, naive.ft_acc
        )),
    );
    let pairs: Vec<(f64, f64)> = res
        .iter()
        .filter(|r| r.family == "Proxy-FDA")
        .filter_map(|p| {
            res.iter()
                .find(|f| f.family == "FDA" && f.lambda == p.lambda)
                .map(|f| (p.mean_dlp(), f.mean_dlp()))
        })
        .collect();
    let gain = mean(pairs.iter().map(|(p, f)| p - f));
    report.add_claim(
        Claim::new(
            "proxies-add-to-fda",
            "The generated proxies add to plain FDA",
            "mean over the λ grid of Δ_LP(Proxy-FDA, λ) − Δ_LP(FDA, λ) (points); holds if > 0",
            gain,
            gain > 0.0,
        )
        .baseline(0.0, "no gain")
        .detail(format!(
            "selected runs: {} Δ_LP {:+.2} vs {} Δ_LP {:+.2}",
            pfda.method,
            pfda.mean_dlp(),
            fda.method,
            fda.mean_dlp()
        )),
    );
    let forget: Vec<f64> = res.iter().map(|r| -r.mean_dlp()).collect();
    let ots: Vec<f64> = res.iter().map(|r| r.ot).collect();
    let l2s: Vec<f64> = res.iter().map(|r| r.l2).collect();
    let rho_ot = ember_core::metrics::spearman(&ots, &forget)?;
    let rho_l2 = ember_core::metrics::spearman(&l2s, &forget)?;
    report.add_claim(
        Claim::new(
            "ot-tracks-forgetting",
            "The OT distance between pre-trained and fine-tuned features correlates with forgetting more strongly than L2",
            format!("|Spearman ρ| between distance and forgetting (−Δ_LP) across all {} runs (methods × λ, seed-averaged); holds if |ρ_OT| > |ρ_L2|", res.len()),
            rho_ot,
            rho_ot.abs() > rho_l2.abs(),
        )
        .baseline(rho_l2, "Spearman ρ of mean squared L2"),
    );
    Ok((rho_ot, rho_l2))
}

/// The per-run table, the per-family step overheads and the headline metrics.
fn add_table_and_metrics(
    report: &mut Report,
    res: &[RunResult],
    s: &Selected,
    rho_ot: f64,
    rho_l2: f64,
) {
    let mut table = Table::new(
        "Fine-tuning on fine shape (8 classes): accuracy, forgetting, distances",
        [
            "method",
            "FT acc %",
            "Δ_LP colour",
            "Δ_LP texture",
            "Δ_LP col×tex",
            "Δ_LP size",
            "mean Δ_LP",
            "OT",
            "L2",
            "ms/step",
        ],
    );
    for r in res {
        let mut row = vec![Cell::from(r.method.as_str()), Cell::from(r.ft_acc)];
        row.extend(r.delta_lp.iter().map(|&v| Cell::from(v)));
        row.extend([
            Cell::from(r.mean_dlp()),
            Cell::from(r.ot),
            Cell::from(r.l2),
            Cell::from(r.ms_per_step),
        ]);
        table.add_row(row);
    }
    report.add_table(table);
    let naive_ms = s.naive.ms_per_step;
    for fam in ["FDA", "Proxy-FDA", "LDIFS", "L2-SP"] {
        let ms = mean(
            res.iter()
                .filter(|r| r.family == fam)
                .map(|r| r.ms_per_step),
        );
        report.add_metric(
            format!("step_overhead_pct_{}", fam.to_lowercase().replace('-', "_")),
            100.0 * (ms / naive_ms - 1.0),
        );
    }
    report.add_metric("spearman_ot_forgetting", rho_ot);
    report.add_metric("spearman_l2_forgetting", rho_l2);
    report.add_metric("naive_ft_acc", s.naive.ft_acc);
    report.add_metric("naive_mean_delta_lp", s.naive.mean_dlp());
}

/// Accuracy vs forgetting, OT and L2 vs forgetting, and Δ_LP per prior task, under `--out`.
fn add_figures(
    report: &mut Report,
    run: &EvalRun,
    all: &[Vec<RunResult>],
    res: &[RunResult],
    s: &Selected,
    rho_ot: f64,
    rho_l2: f64,
) -> Result<()> {
    let out = run.out();
    let mut fams: Vec<&str> = Vec::new();
    for r in res {
        if !fams.contains(&r.family) {
            fams.push(r.family);
        }
    }
    let series = |f: &dyn Fn(&RunResult) -> (f64, f64)| -> Vec<Series> {
        fams.iter()
            .map(|fam| {
                Series::new(
                    *fam,
                    res.iter().filter(|r| r.family == *fam).map(f).collect(),
                )
            })
            .collect()
    };
    plot::line(
        out.join("pareto.png"),
        &LinePlot {
            title: "Fine-tuning accuracy vs forgetting".into(),
            x_label: "fine-shape test accuracy (%)".into(),
            y_label: "mean Δ_LP on prior tasks (points)".into(),
            series: series(&|r| (r.ft_acc, r.mean_dlp())),
            log_x: false,
        },
    )
    .context("pareto plot")?;
    report.add_figure(Figure::new(
        "Accuracy vs forgetting",
        "pareto.png",
        "Each point a run (λ grid per method); up = less forgetting",
    ));
    plot::line(
        out.join("ot_vs_forgetting.png"),
        &LinePlot {
            title: format!("OT distance vs forgetting (Spearman {rho_ot:.2})"),
            x_label: "OTDD-lite (Sinkhorn)".into(),
            y_label: "forgetting −Δ_LP (points)".into(),
            series: series(&|r| (r.ot, -r.mean_dlp())),
            log_x: false,
        },
    )
    .context("ot plot")?;
    plot::line(
        out.join("l2_vs_forgetting.png"),
        &LinePlot {
            title: format!("L2 distance vs forgetting (Spearman {rho_l2:.2})"),
            x_label: "mean squared L2 (normalised features)".into(),
            y_label: "forgetting −Δ_LP (points)".into(),
            series: series(&|r| (r.l2, -r.mean_dlp())),
            log_x: false,
        },
    )
    .context("l2 plot")?;
    report.add_figure(Figure::new(
        "OT vs forgetting",
        "ot_vs_forgetting.png",
        "Distributional distance against forgetting, one point per run",
    ));
    report.add_figure(Figure::new(
        "L2 vs forgetting",
        "l2_vs_forgetting.png",
        "Point-wise distance against forgetting, one point per run",
    ));
    let naive_acc = s.naive.ft_acc;
    let shown = [
        s.naive,
        select(res, "LP-FT", naive_acc),
        select(res, "L2-SP", naive_acc),
        s.ldifs,
        s.fda,
        s.pfda,
    ];
    // Spread over seeds: the same run (method and λ) in every seed, one std per task.
    let errors: Vec<Vec<f64>> = if all.len() > 1 {
        shown
            .iter()
            .map(|r| {
                (0..PROBE_TASKS.len())
                    .map(|t| {
                        let per_seed: Vec<f64> = all
                            .iter()
                            .filter_map(|seed| seed.iter().find(|x| x.method == r.method))
                            .map(|x| x.delta_lp[t])
                            .collect();
                        plot::mean_std(&per_seed).map_or(f64::NAN, |(_, sd)| sd)
                    })
                    .collect()
            })
            .collect()
    } else {
        Vec::new()
    };
    plot::bar_with(
        out.join("delta_lp.png"),
        &BarChart {
            title: "Δ_LP per prior task".into(),
            y_label: "Δ_LP (points)".into(),
            groups: PROBE_TASKS.iter().map(|s| s.to_string()).collect(),
            series: shown
                .iter()
                .map(|r| (r.method.clone(), r.delta_lp.clone()))
                .collect(),
        },
        &plot::BarOptions::default().with_errors(errors),
    )
    .context("bar plot")?;
    report.add_figure(Figure::new(
        "Δ_LP per task",
        "delta_lp.png",
        if all.len() > 1 {
            format!(
                "Selected run per method, mean over {} seeds; error bars ±1 standard deviation across seeds",
                all.len()
            )
        } else {
            "Selected run per method (one seed)".to_string()
        },
    ));
    Ok(())
}

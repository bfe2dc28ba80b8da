//! Claims, tables and figures of the `lang-experts` report (rules in the parent module).

use super::LangExpertsPlan;
use super::babel::{BabelResult, median, pairs};
use super::concept::ConceptResult;
use super::lm::TrainedLm;
use anyhow::{Context, Result};
use ember_core::eval::EvalRun;
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};

/// Wall time of the stages.
pub struct Timings {
    /// Babel LM training.
    pub babel_train_s: f64,
    /// Babel data + training + analysis.
    pub babel_total_s: f64,
    /// ConceptWorld LM training.
    pub cw_train_s: f64,
    /// ConceptWorld data + training + analysis.
    pub cw_total_s: f64,
}

fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    f.iter().sum::<f64>() / f.len().max(1) as f64
}

/// Builds the report and writes the figures under `--out`.
pub fn build(
    run: &EvalRun,
    plan: &LangExpertsPlan,
    b: &BabelResult,
    c: &ConceptResult,
    blm: &TrainedLm,
    clm: &TrainedLm,
    t: &Timings,
) -> Result<Report> {
    let mut rep = run.report(
        "P3+P4",
        "Language experts (cross-lingual alignment by forcing experts) and concept experts (expert overlap vs human similarity)",
    );
    // ---- premise
    let tgt = plan.target;
    let (real, shuf) = (
        b.selective_real[tgt] as f64,
        b.selective_shuffled[tgt] as f64,
    );
    let premise_lang = real > 10.0 * shuf && real >= 0.01 * b.n_units as f64;
    let premise_concept = c.mean_experts > 10.0 * c.mean_experts_shuffled;
    rep.add_claim(
        Claim::new(
            "P0",
            "Premise: language-selective and concept-selective units exist",
            format!(
                "units with AUROC >= 0.9 for the target language {} (of {})",
                b.names[tgt], b.n_units
            ),
            real,
            premise_lang && premise_concept,
        )
        .baseline(shuf, "same, shuffled labels")
        .detail(format!(
            "rule: > 10x shuffled and >= 1% of units; concepts: mean {:.1} units with AP >= {} vs {:.2} shuffled (rule > 10x). Per language (real/shuffled): {}",
            c.mean_experts,
            plan.tau,
            c.mean_experts_shuffled,
            b.names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{n} {}/{}", b.selective_real[i], b.selective_shuffled[i]))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    // ---- C1
    let pp = pairs(&b.pre, &b.post);
    let ratios: Vec<f64> = pp
        .iter()
        .filter(|(a, _)| *a > 0.0)
        .map(|(a, p)| p / a)
        .collect();
    let med_ratio = median(&ratios);
    let max_ratio = ratios.iter().copied().fold(f64::NAN, f64::max);
    let improved = pp.iter().filter(|(a, p)| p > a).count();
    rep.add_claim(
        Claim::new(
            "C1",
            "Forcing a language's experts to their mean raises cross-lingual retrieval top-1 (up to 2x)",
            format!("median post/pre top-1 ratio over {} ordered language pairs at k = {}", pp.len(), b.k),
            med_ratio,
            med_ratio >= 1.2,
        )
        .baseline(1.0, "no change")
        .detail(format!(
            "rule: median ratio >= 1.2; max ratio {max_ratio:.2} (paper: up to ~2x); {improved}/{} pairs improved; mean top-1 pre {:.3} post {:.3}; k chosen on the probe set from {:?}; mean AUROC of the experts {:.3}",
            pp.len(),
            mean(&pp.iter().map(|x| x.0).collect::<Vec<_>>()),
            mean(&pp.iter().map(|x| x.1).collect::<Vec<_>>()),
            b.ks,
            b.expert_auroc
        )),
    );
    // ---- C2
    let dp: Vec<f64> = pp.iter().map(|(a, p)| p - a).collect();
    let dr: Vec<f64> = pairs(&b.pre, &b.random)
        .iter()
        .map(|(a, p)| p - a)
        .collect();
    let (mdp, mdr) = (median(&dp), median(&dr));
    rep.add_claim(
        Claim::new(
            "C2",
            "Random units with the same k (same values) give no comparable gain",
            "median per-pair Δtop-1 under the random control",
            mdr,
            mdr <= f64::max(0.0, 0.25 * mdp),
        )
        .baseline(mdp, "median Δtop-1 under the experts")
        .detail("rule: random median Δ <= max(0, ¼ · experts' median Δ)"),
    );
    // ---- C3
    let para_pre = mean(&b.pre.para);
    let para_post = mean(&b.post.para);
    let para_mixed = mean(&b.para_mixed);
    rep.add_claim(
        Claim::new(
            "C3",
            "Same-language (paraphrase) retrieval is not harmed by the intervention",
            "paraphrase top-1 after the intervention (mean over languages)",
            para_post,
            (para_post - para_pre).abs() <= 0.05,
        )
        .baseline(para_pre, "before")
        .detail(format!(
            "rule: |post − pre| <= 0.05; mixed (query pre, candidates post) {para_mixed:.3} (paper: mixed << pre)"
        )),
    );
    // ---- C4
    rep.add_claim(
        Claim::new(
            "C4",
            "Expert-overlap similarity aligns with human similarity better than word embeddings",
            format!(
                "Spearman ρ(Jaccard of AP >= {} expert sets, mean simulated rating), {} pairs",
                plan.tau, c.n_pairs
            ),
            c.rho_experts,
            c.rho_experts > c.rho_embedding && c.rho_experts > 0.0,
        )
        .baseline(c.rho_embedding, "input-embedding cosine")
        .detail(format!(
            "rule: ρ_experts > ρ_embedding and > 0; raters σ = {:.2}, split-half reliability {:.3} (target {}); truth ρ {:.3}",
            c.sigma, c.reliability, plan.reliability, c.rho_truth
        )),
    );
    // ---- C5
    rep.add_claim(
        Claim::new(
            "C5",
            "Expert overlap recovers the concept hierarchy",
            "ARI of average-linkage clustering on 1 − Jaccard vs the categories",
            c.ari,
            c.ari >= 0.3 && c.ari > c.ari_null_p99,
        )
        .baseline(c.ari_null_p99, "99th percentile of permuted labels")
        .detail(format!(
            "rule: ARI >= 0.3 and above the permutation p99; embedding-cosine clustering ARI {:.3}; mean Jaccard same category {:.3} / same domain {:.3} / other domain {:.3}",
            c.ari_embedding, c.jaccard_by_relation[0], c.jaccard_by_relation[1], c.jaccard_by_relation[2]
        )),
    );

    // ---- tables
    let l = b.names.len();
    let mut tab = Table::new(
        format!(
            "Retrieval top-1, query → candidate (pre / experts / random), target {}",
            b.names[tgt]
        ),
        ["query", "candidate", "pre", "experts", "random"],
    );
    for q in 0..l {
        for cc in 0..l {
            if q != cc {
                tab.add_row(vec![
                    Cell::from(b.names[q].clone()),
                    Cell::from(b.names[cc].clone()),
                    Cell::from(b.pre.top1[q][cc]),
                    Cell::from(b.post.top1[q][cc]),
                    Cell::from(b.random.top1[q][cc]),
                ]);
            }
        }
    }
    rep.add_table(tab);
    let mut tab = Table::new(
        "k sweep (test set; k chosen on the probe set)",
        [
            "k",
            "probe mean top-1",
            "median Δ experts",
            "median Δ random",
        ],
    );
    for (i, k) in b.ks.iter().enumerate() {
        tab.add_row(vec![
            Cell::from(*k as f64),
            Cell::from(b.probe_top1[i]),
            Cell::from(b.sweep_delta[i].0),
            Cell::from(b.sweep_delta[i].1),
        ]);
    }
    rep.add_table(tab);
    let mut tab = Table::new("τ sweep (ConceptWorld)", ["τ", "ρ", "mean experts"]);
    for (tau, rho, n) in &c.tau_sweep {
        tab.add_row(vec![Cell::from(*tau), Cell::from(*rho), Cell::from(*n)]);
    }
    rep.add_table(tab);

    // ---- metrics
    for (k, v) in [
        ("babel_params", blm.n_params as f64),
        ("babel_final_loss", blm.final_loss),
        ("cw_params", clm.n_params as f64),
        ("cw_final_loss", clm.final_loss),
        ("units", b.n_units as f64),
        ("k", b.k as f64),
        ("max_ratio", max_ratio),
        ("centroid_dist_pre", b.pre.centroid_dist),
        ("centroid_dist_post", b.post.centroid_dist),
        ("centroid_dist_random", b.random.centroid_dist),
        ("expert_overlap_across_languages", b.expert_overlap),
        ("paraphrase_mixed", para_mixed),
        ("rho_truth", c.rho_truth),
        ("rater_reliability", c.reliability),
        ("ari_embedding", c.ari_embedding),
        ("babel_train_s", t.babel_train_s),
        ("babel_total_s", t.babel_total_s),
        ("cw_train_s", t.cw_train_s),
        ("cw_total_s", t.cw_total_s),
    ] {
        rep.add_metric(k, v);
    }

    // ---- figures
    let out = run.out();
    let curve = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, y)| ((i + 1) as f64, *y))
            .collect()
    };
    plot::line(
        out.join("pilot.png"),
        &LinePlot {
            title: format!(
                "Pilot: sorted unit AUROC for language {} vs shuffled labels",
                b.names[tgt]
            ),
            x_label: "unit rank".into(),
            y_label: "AUROC".into(),
            series: vec![
                Series::new("real labels", curve(&b.auroc_curves.0)),
                Series::new("shuffled labels", curve(&b.auroc_curves.1)),
            ],
            log_x: true,
        },
    )
    .context("plotting the pilot")?;
    rep.add_figure(Figure::new(
        "Pilot (languages)",
        "pilot.png",
        "Language-selective units exist: sorted AUROC, real vs shuffled labels",
    ));
    plot::line(
        out.join("pilot_concepts.png"),
        &LinePlot {
            title: "Pilot: sorted unit AP (mean over concepts) vs shuffled labels".into(),
            x_label: "unit rank".into(),
            y_label: "AP".into(),
            series: vec![
                Series::new("real labels", curve(&c.ap_curves.0)),
                Series::new("shuffled labels", curve(&c.ap_curves.1)),
            ],
            log_x: true,
        },
    )
    .context("plotting the concept pilot")?;
    rep.add_figure(Figure::new(
        "Pilot (concepts)",
        "pilot_concepts.png",
        "Concept-selective units exist: sorted AP, real vs shuffled",
    ));
    let groups: Vec<String> = (0..l)
        .flat_map(|q| (0..l).filter(move |&cc| cc != q).map(move |cc| (q, cc)))
        .map(|(q, cc)| format!("{}>{}", b.names[q], b.names[cc]))
        .collect();
    let col = |cnd: &super::babel::Condition| -> Vec<f64> {
        (0..l)
            .flat_map(|q| (0..l).filter(move |&cc| cc != q).map(move |cc| (q, cc)))
            .map(|(q, cc)| cnd.top1[q][cc])
            .collect()
    };
    plot::bar(
        out.join("retrieval.png"),
        &BarChart {
            title: format!(
                "Retrieval top-1 per ordered pair, experts of {} (k = {})",
                b.names[tgt], b.k
            ),
            y_label: "top-1".into(),
            groups,
            series: vec![
                ("pre".into(), col(&b.pre)),
                ("experts".into(), col(&b.post)),
                ("random".into(), col(&b.random)),
            ],
        },
    )
    .context("plotting retrieval")?;
    rep.add_figure(Figure::new(
        "Retrieval",
        "retrieval.png",
        "Cross-lingual top-1 before, under the experts and under the random control",
    ));
    plot::line(
        out.join("k_sweep.png"),
        &LinePlot {
            title: "Median per-pair Δtop-1 vs k".into(),
            x_label: "k (units forced)".into(),
            y_label: "median Δtop-1".into(),
            series: vec![
                Series::new(
                    "experts",
                    b.ks.iter()
                        .zip(&b.sweep_delta)
                        .map(|(k, d)| (*k as f64, d.0))
                        .collect(),
                ),
                Series::new(
                    "random",
                    b.ks.iter()
                        .zip(&b.sweep_delta)
                        .map(|(k, d)| (*k as f64, d.1))
                        .collect(),
                ),
            ],
            log_x: true,
        },
    )
    .context("plotting the k sweep")?;
    rep.add_figure(Figure::new(
        "k sweep",
        "k_sweep.png",
        "Median gain in top-1 against k, experts vs random units",
    ));
    plot::line(
        out.join("tau_sweep.png"),
        &LinePlot {
            title: "ConceptWorld: ρ with the ratings vs τ".into(),
            x_label: "τ (AP threshold)".into(),
            y_label: "Spearman ρ".into(),
            series: vec![
                Series::new(
                    "expert Jaccard",
                    c.tau_sweep.iter().map(|x| (x.0, x.1)).collect(),
                ),
                Series::new(
                    "input-embedding cosine",
                    c.tau_sweep.iter().map(|x| (x.0, c.rho_embedding)).collect(),
                ),
            ],
            log_x: false,
        },
    )
    .context("plotting the tau sweep")?;
    rep.add_figure(Figure::new(
        "τ sweep",
        "tau_sweep.png",
        "Alignment with the simulated ratings against the expert threshold",
    ));
    rep.add_note(format!(
        "Babel LM {} params, final loss {:.3}; ConceptWorld LM {} params, final loss {:.3}. Timings: Babel {:.1} s (train {:.1} s), ConceptWorld {:.1} s (train {:.1} s).",
        blm.n_params, blm.final_loss, clm.n_params, clm.final_loss, t.babel_total_s, t.babel_train_s, t.cw_total_s, t.cw_train_s
    ));
    Ok(rep)
}

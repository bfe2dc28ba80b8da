//! The spkver report: claims (rules fixed before running), tables, figures, metrics, notes.

use super::heads::Outcome;
use super::stages::{Data, EspeakZeroShot, Frozen, Pretrained, ZeroShot};
use super::{SpkverPlan, TOL};
use anyhow::{Context, Result};
use ember_core::eval::EvalRun;
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};

/// Everything the report is built from.
pub(super) struct Measured<'a> {
    pub data: &'a Data,
    pub ssl: &'a Pretrained,
    pub frozen: &'a Frozen,
    pub zero_shot: &'a ZeroShot,
    pub espeak: Option<&'a EspeakZeroShot>,
    pub heads: &'a [Outcome],
    pub utt_per_s: f64,
}

/// Builds the report and draws its figures into `--out`.
pub(super) fn build(run: &EvalRun, p: &SpkverPlan, m: &Measured) -> Result<Report> {
    let outs = m.heads;
    let (te, pre) = (&m.data.test, &m.data.pre);
    let trials = &m.data.trials;
    let n_target = m.data.n_target;
    let zs = &m.zero_shot.per_layer;
    let zs_fb = m.zero_shot.fbank;
    let n_layers = m.frozen.n_layers;
    let enc_params = m.ssl.params;
    let find = |name: &str, feat: &str, frac: f64| {
        outs.iter()
            .find(|o| o.name == name && o.features == feat && (o.frac - frac).abs() < 1e-9)
            .with_context(|| format!("missing head run: {name} on {feat} at {frac}"))
    };
    let base_ssl = find("baseline x-vector", "ssl", 1.0)?;
    let simple_ssl = find("simplified SP", "ssl", 1.0)?;
    let simple_60 = find("simplified SP", "ssl", 0.6)?;
    let base_fb = find("baseline x-vector", "fbank", 1.0)?;
    let simple_fb = find("simplified SP", "fbank", 1.0)?;
    let reduction = 1.0 - simple_ssl.params as f64 / base_ssl.params as f64;
    let mut report = run.report(
        "P10",
        "Simplified speaker-verification heads on self-supervised features",
    );
    report.add_claim(
        Claim::new(
            "C1-simplified-matches-baseline",
            "On SSL features the simplified head (weighted layer sum + stats pooling + one linear layer) is no worse than the SUPERB x-vector baseline with ≥ 95% fewer parameters",
            format!("test EER of the simplified head on frozen SSL layers; holds if EER ≤ baseline EER + {:.1} pp and the parameter reduction is ≥ 95%", TOL * 100.0),
            simple_ssl.eer,
            simple_ssl.eer <= base_ssl.eer + TOL && reduction >= 0.95,
        )
        .baseline(base_ssl.eer, "x-vector baseline EER (SSL features, 100% data)")
        .detail(format!(
            "parameters {} vs {} ({:.2}% fewer; paper: 97.51%); relative EER change {:+.1}% (paper: 29.93% average improvement); minDCF(0.01) {:.3} vs {:.3}",
            simple_ssl.params, base_ssl.params, reduction * 100.0,
            (base_ssl.eer - simple_ssl.eer) / base_ssl.eer.max(1e-12) * 100.0,
            simple_ssl.dcf01, base_ssl.dcf01
        )),
    );
    report.add_claim(
        Claim::new(
            "C2-data-efficiency",
            "Trained on 60% of the data, the simplified head is no worse than the baseline trained on 100%",
            format!("test EER of the simplified head trained on the first 60% of each training speaker's utterances; holds if ≤ the 100%-data baseline EER + {:.1} pp", TOL * 100.0),
            simple_60.eer,
            simple_60.eer <= base_ssl.eer + TOL,
        )
        .baseline(base_ssl.eer, "x-vector baseline EER, 100% data"),
    );
    report.add_claim(
        Claim::new(
            "C3-fbank-needs-frame-level",
            "On filterbank input the baseline's frame-level (TDNN) layers matter: the simplified head loses there",
            format!("test EER of the simplified head on log-mel input; holds if it exceeds the x-vector baseline's log-mel EER by more than {:.1} pp", TOL * 100.0),
            simple_fb.eer,
            simple_fb.eer > base_fb.eer + TOL,
        )
        .baseline(base_fb.eer, "x-vector baseline EER on log-mel"),
    );

    let mut t = Table::new(
        "Heads × features (test: all pairs)",
        [
            "head",
            "features",
            "train data",
            "parameters",
            "EER",
            "minDCF p=0.01",
            "minDCF p=0.05",
            "train s",
        ],
    );
    for o in outs {
        t.add_row(vec![
            Cell::from(o.name.as_str()),
            Cell::from(o.features),
            Cell::from(format!("{:.0}%", o.frac * 100.0)),
            Cell::from(o.params as f64),
            Cell::from(o.eer),
            Cell::from(o.dcf01),
            Cell::from(o.dcf05),
            Cell::from(o.train_s),
        ]);
    }
    report.add_table(t);
    let mut t = Table::new(
        "Zero-shot EER (mean ‖ std pooling, cosine)",
        ["input", "EER"],
    );
    t.add_row(vec![Cell::from("log-mel"), Cell::from(zs_fb)]);
    for (l, e) in zs.iter().enumerate() {
        t.add_row(vec![Cell::from(format!("SSL layer {l}")), Cell::from(*e)]);
    }
    report.add_table(t);
    match m.espeak {
        Some(es) => {
            let mut t = Table::new(
                format!(
                    "Optional source: zero-shot EER on espeak-ng speakers ({} speakers, {} utterances; a different synthesiser, same frozen encoder)",
                    es.n_speakers, es.n_utterances
                ),
                ["input", "EER"],
            );
            t.add_row(vec![Cell::from("log-mel"), Cell::from(es.fbank)]);
            for (l, e) in es.per_layer.iter().enumerate() {
                t.add_row(vec![Cell::from(format!("SSL layer {l}")), Cell::from(*e)]);
            }
            report.add_table(t);
        }
        None => {
            report.add_note(
                "espeak-ng was not installed, so the optional espeak-ng test speakers were skipped.",
            );
        }
    }

    // Plots.
    let out = run.out();
    plot::line(
        out.join("zero_shot.png"),
        &LinePlot {
            title: "Zero-shot SV per layer (mean+std pooling, cosine)".into(),
            x_label: "layer (0 = Transformer input)".into(),
            y_label: "EER (%)".into(),
            series: vec![
                Series::new(
                    "SSL encoder",
                    zs.iter()
                        .enumerate()
                        .map(|(l, &e)| (l as f64, 100.0 * e))
                        .collect(),
                ),
                Series::new(
                    "log-mel",
                    vec![(0.0, 100.0 * zs_fb), ((n_layers - 1) as f64, 100.0 * zs_fb)],
                ),
            ],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Zero-shot per layer",
        "zero_shot.png",
        "EER of per-layer mean+std pooled frozen features",
    ));
    plot::bar(
        out.join("heads.png"),
        &BarChart {
            title: "EER by head and input (100% data)".into(),
            y_label: "EER (%)".into(),
            groups: vec!["SSL layers".into(), "log-mel".into()],
            series: vec![
                (
                    "baseline x-vector".into(),
                    vec![100.0 * base_ssl.eer, 100.0 * base_fb.eer],
                ),
                (
                    "simplified SP".into(),
                    vec![100.0 * simple_ssl.eer, 100.0 * simple_fb.eer],
                ),
            ],
        },
    )?;
    report.add_figure(Figure::new(
        "Heads",
        "heads.png",
        "Baseline vs simplified head on SSL features and on log-mel",
    ));
    let curve = |name: &str| -> Vec<(f64, f64)> {
        outs.iter()
            .filter(|o| o.name == name && o.features == "ssl")
            .map(|o| (o.frac * 100.0, 100.0 * o.eer))
            .collect()
    };
    plot::line(
        out.join("data_efficiency.png"),
        &LinePlot {
            title: "Data efficiency on SSL features".into(),
            x_label: "% of training utterances per speaker".into(),
            y_label: "EER (%)".into(),
            series: vec![
                Series::new("baseline x-vector", curve("baseline x-vector")),
                Series::new("simplified SP", curve("simplified SP")),
            ],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Data efficiency",
        "data_efficiency.png",
        "EER against the fraction of training data",
    ));
    plot::line(
        out.join("pretrain.png"),
        &LinePlot {
            title: "SSL pre-training (masked k-means prediction)".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats)".into(),
            series: vec![Series::new("masked frames", m.ssl.curve.clone())],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Pre-training",
        "pretrain.png",
        "HuBERT-style masked prediction loss",
    ));

    let zs_best = m.zero_shot.best_layer();
    report.add_metric("eer_baseline_ssl", base_ssl.eer);
    report.add_metric("eer_simple_ssl", simple_ssl.eer);
    report.add_metric("eer_simple_ssl_60", simple_60.eer);
    report.add_metric("eer_baseline_fbank", base_fb.eer);
    report.add_metric("eer_simple_fbank", simple_fb.eer);
    report.add_metric("param_reduction", reduction);
    report.add_metric("params_baseline", base_ssl.params as f64);
    report.add_metric("params_simple", simple_ssl.params as f64);
    report.add_metric("encoder_params", enc_params as f64);
    report.add_metric("zero_shot_best_layer_eer", zs_best);
    report.add_metric("zero_shot_fbank_eer", zs_fb);
    report.add_metric("embed_utterances_per_s", m.utt_per_s);
    report.add_metric("trials", trials.1.len() as f64);
    report.add_metric("target_trials", n_target as f64);
    report.add_metric("pretrain_s", m.ssl.seconds);
    report.add_metric("extract_s", m.frozen.seconds);
    report.add_note(format!(
        "Speakers from the pure-Rust formant synthesiser (per-speaker f0, VTL, glottal source, rhythm, vibrato, formant dynamics; per-session FIR+EQ channel and 10–30 dB noise). Test: all {} pairs of {} utterances of {} unseen speakers ({n_target} target trials). Encoder: conv front end + {}-layer Transformer d={}, {enc_params} parameters, HuBERT-style pre-training for {} steps on {} unlabelled utterances; {n_layers} exposed layers, frozen and standardised per layer. Heads: AM-softmax s=30 m=0.4, Adam lr 1e-3, {} steps of {} random {}-frame crops; no model selection (last step).",
        trials.1.len(), te.audio.len(), te.n_speakers, p.n_layers, p.d_model, p.pretrain_steps, pre.audio.len(), p.head_steps, p.head_batch, p.crop_frames
    ));
    report.add_note(format!(
        "Precondition of the paper's argument (SSL features carry more directly usable speaker information than filterbanks): best zero-shot SSL layer EER {:.2}% vs log-mel {:.2}% ({}).",
        zs_best * 100.0,
        zs_fb * 100.0,
        if zs_best + TOL < zs_fb { "met" } else { "not met: the encoder adds no zero-shot speaker information over its input" }
    ));
    report.add_note(format!(
        "Learned layer weights (simplified SP, 100%): {:?}",
        simple_ssl
            .layer_weights
            .iter()
            .map(|w| format!("{w:.3}"))
            .collect::<Vec<_>>()
    ));
    eprintln!(
        "C1 {} (simple {:.2}% vs base {:.2}%, {:.1}% fewer params); C2 {} (60%: {:.2}%); C3 {} (fbank simple {:.2}% vs base {:.2}%); {:.0} utt/s",
        report.claims[0].holds,
        simple_ssl.eer * 100.0,
        base_ssl.eer * 100.0,
        reduction * 100.0,
        report.claims[1].holds,
        simple_60.eer * 100.0,
        report.claims[2].holds,
        simple_fb.eer * 100.0,
        base_fb.eer * 100.0,
        m.utt_per_s,
    );
    Ok(report)
}

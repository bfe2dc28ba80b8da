//! The experiment behind `cargo xtask eval aape`: in the AttrCLIP world ([`crate::world`]),
//! pre-train the small CLIP, write the class descriptions as a CuPL file and read them back,
//! then train every prompt learner on few-shot base classes and measure base, novel, their
//! harmonic mean, and the same on the shifted test set, over several seeds.
//!
//! Stages, each callable on its own: [`prepare`] (world, CLIP, features, texts),
//! [`evaluate_methods`] (train and score each method), [`report`] (claims, tables,
//! figures).
//!
//! Claim rules (fixed before the first run; means over seeds):
//! - premise: novel accuracy of zero-shot with descriptions (CuPL) − with names > 0;
//! - (1) AAPE's novel accuracy and HM are both above CoOp's;
//! - (2) with λ = 0 the HM gain over CoOp is at most half of AAPE's (and AAPE's is > 0);
//! - (3) AAPE with attention aggregation has a higher HM than with mean aggregation;
//! - (4) HM drop from the in-distribution to the shifted test set: AAPE's < CoOp's.

use crate::checkpoint::harmonic_mean;
use crate::clip::SmallClipConfig;
use crate::cupl::{read_cupl, write_cupl};
use crate::dual::DualEncoder;
use crate::learners::{AapeConfig, Aggregation, ClassTextSpec, ClassTexts, Combiner};
use crate::pretrain::{PretrainConfig, Pretrained, pretrain};
use crate::train::{Features, LearnConfig, LearnInputs, Learned, Method, train};
use crate::world::{AttrWorld, Domain, WorldConfig};
use anyhow::{Context, Result};
use burn::prelude::*;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use ember_core::seed::Seed;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Sizes and hyper-parameters of the `aape` eval; defaults per scale, overridable with
/// `--config` / `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AapePlan {
    /// Independent repeats (world, CLIP, few-shot draw, learners), derived from `--seed`.
    pub seeds: usize,
    /// Classes (half base, half novel).
    pub classes: usize,
    /// Binary attributes of the world.
    pub attributes: usize,
    /// Image side in pixels.
    pub side: usize,
    /// Classes whose names are rare in the pre-training captions (half base, half novel).
    pub under_represented: usize,
    /// Fraction of an under-represented class's pre-training captions that name it. Full
    /// scale pre-trains 10× longer on 3× the images, so it lowers the rate to keep those
    /// names rare (the premise, descriptions beating names on novel classes, needs them rare).
    pub rare_name_rate: f64,
    /// Descriptions per class.
    pub prompts_per_class: usize,
    /// Fraction of descriptions with a hallucinated attribute.
    pub hallucination_rate: f64,
    /// Fraction of descriptions that are filler.
    pub irrelevant_rate: f64,
    /// Joint embedding width of the small CLIP.
    pub embed_dim: usize,
    /// Text tower width (4 heads).
    pub text_width: usize,
    /// Text tower blocks.
    pub text_layers: usize,
    /// Image tower conv channels.
    pub channels: Vec<usize>,
    /// Pre-training images per class.
    pub pretrain_images_per_class: usize,
    /// Pre-training steps.
    pub pretrain_steps: usize,
    /// Pre-training batch.
    pub pretrain_batch: usize,
    /// Pre-training learning rate.
    pub pretrain_lr: f64,
    /// Training images per base class (the claims' K).
    pub shots: usize,
    /// Extra few-shot sweep (CoOp and AAPE at each K); empty skips it.
    pub shots_sweep: Vec<usize>,
    /// Test images per class, in distribution and shifted.
    pub test_per_class: usize,
    /// Prompt-learning steps.
    pub steps: usize,
    /// Prompt-learning batch.
    pub batch: usize,
    /// Prompt-learning learning rate.
    pub lr: f64,
    /// Context tokens (initialised from "a photo of a").
    pub n_ctx: usize,
    /// AAPE's distillation weight λ.
    pub lambda: f64,
    /// Aggregator heads.
    pub heads: usize,
    /// Aggregator key width per head.
    pub d_k: usize,
    /// Generator hidden width.
    pub gen_hidden: usize,
    /// Temperature of the aggregator's CLIP reward.
    pub reward_temperature: f64,
    /// KgCoOp's weight w.
    pub kg_weight: f64,
    /// Also train CoCoOp (the text tower runs per image and class).
    pub cocoop: bool,
}

impl Plan for AapePlan {
    fn for_scale(scale: Scale) -> Self {
        let quick = AapePlan {
            seeds: 3,
            classes: 40,
            attributes: 16,
            side: 12,
            under_represented: 10,
            rare_name_rate: 0.01,
            prompts_per_class: 20,
            hallucination_rate: 0.2,
            irrelevant_rate: 0.1,
            embed_dim: 64,
            text_width: 64,
            text_layers: 1,
            channels: vec![16, 32],
            pretrain_images_per_class: 100,
            pretrain_steps: 300,
            pretrain_batch: 128,
            pretrain_lr: 3e-3,
            shots: 16,
            shots_sweep: vec![],
            test_per_class: 25,
            steps: 150,
            batch: 32,
            lr: 3e-3,
            n_ctx: 4,
            lambda: 1.0,
            heads: 4,
            d_k: 16,
            gen_hidden: 16,
            reward_temperature: 0.07,
            kg_weight: 8.0,
            cocoop: true,
        };
        match scale {
            Scale::Quick => quick,
            Scale::Full => AapePlan {
                seeds: 3,
                pretrain_images_per_class: 300,
                pretrain_steps: 1000,
                rare_name_rate: 0.001,
                shots_sweep: vec![1, 2, 4, 8, 16],
                test_per_class: 100,
                steps: 400,
                ..quick
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(self.seeds >= 1, "seeds", "must be at least 1")?;
        check(
            self.classes >= 4 && self.classes.is_multiple_of(2),
            "classes",
            "must be even and at least 4",
        )?;
        check(self.attributes >= 6, "attributes", "must be at least 6")?;
        check(self.side >= 4, "side", "must be at least 4")?;
        check(
            (0.0..=1.0).contains(&self.rare_name_rate),
            "rare_name_rate",
            "must be in [0, 1]",
        )?;
        check(
            self.under_represented <= self.classes,
            "under_represented",
            "must be at most classes",
        )?;
        check(
            self.prompts_per_class >= 1,
            "prompts_per_class",
            "must be at least 1",
        )?;
        for (k, v) in [
            ("hallucination_rate", self.hallucination_rate),
            ("irrelevant_rate", self.irrelevant_rate),
        ] {
            check((0.0..=1.0).contains(&v), k, "must be in [0, 1]")?;
        }
        check(
            self.hallucination_rate + self.irrelevant_rate <= 1.0,
            "irrelevant_rate",
            "hallucination_rate + irrelevant_rate must be at most 1",
        )?;
        check(self.embed_dim >= 1, "embed_dim", "must be at least 1")?;
        check(
            self.text_width >= 4 && self.text_width.is_multiple_of(4),
            "text_width",
            "must be a positive multiple of 4",
        )?;
        check(self.text_layers >= 1, "text_layers", "must be at least 1")?;
        check(
            !self.channels.is_empty() && !self.channels.contains(&0),
            "channels",
            "must be a non-empty list of positive widths",
        )?;
        check(
            self.pretrain_images_per_class >= 1,
            "pretrain_images_per_class",
            "must be at least 1",
        )?;
        check(
            self.pretrain_steps >= 1,
            "pretrain_steps",
            "must be at least 1",
        )?;
        check(
            self.pretrain_batch >= 2,
            "pretrain_batch",
            "must be at least 2",
        )?;
        for (k, v) in [("pretrain_lr", self.pretrain_lr), ("lr", self.lr)] {
            check(v.is_finite() && v > 0.0, k, "must be positive")?;
        }
        check(self.shots >= 1, "shots", "must be at least 1")?;
        check(
            self.shots_sweep.iter().all(|&k| k >= 1),
            "shots_sweep",
            "every K must be at least 1",
        )?;
        check(
            self.test_per_class >= 1,
            "test_per_class",
            "must be at least 1",
        )?;
        check(self.steps >= 1, "steps", "must be at least 1")?;
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(
            (1..=8).contains(&self.n_ctx),
            "n_ctx",
            "must be in 1..=8 (prompts are at most 16 tokens)",
        )?;
        check(
            self.lambda.is_finite() && self.lambda > 0.0,
            "lambda",
            "must be positive (λ = 0 is run as the ablation)",
        )?;
        check(self.heads >= 1, "heads", "must be at least 1")?;
        check(self.d_k >= 1, "d_k", "must be at least 1")?;
        check(self.gen_hidden >= 1, "gen_hidden", "must be at least 1")?;
        check(
            self.reward_temperature.is_finite() && self.reward_temperature > 0.0,
            "reward_temperature",
            "must be positive",
        )?;
        check(
            self.kg_weight.is_finite() && self.kg_weight >= 0.0,
            "kg_weight",
            "must be non-negative",
        )
    }
}

impl AapePlan {
    fn world(&self) -> WorldConfig {
        WorldConfig {
            classes: self.classes,
            attributes: self.attributes,
            side: self.side,
            under_represented: self.under_represented,
            rare_name_rate: self.rare_name_rate,
            prompts_per_class: self.prompts_per_class,
            hallucination_rate: self.hallucination_rate,
            irrelevant_rate: self.irrelevant_rate,
            ..WorldConfig::default()
        }
    }

    fn aape(&self, lambda: f64, aggregation: Aggregation) -> AapeConfig {
        AapeConfig {
            heads: self.heads,
            d_k: self.d_k,
            aggregation,
            reward_temperature: self.reward_temperature,
            gen_hidden: self.gen_hidden,
            lambda,
            combiner: Combiner::ResidualConcatProj,
        }
    }

    fn learn(&self, seed: Seed) -> LearnConfig {
        LearnConfig {
            steps: self.steps,
            batch: self.batch,
            lr: self.lr,
            seed: seed.value(),
            n_ctx: self.n_ctx,
            ctx_init: Some("a photo of a".into()),
            checkpoint_every: self.steps.div_ceil(2),
        }
    }

    /// The methods compared, in table order.
    pub fn methods(&self) -> Vec<Method> {
        let mut m = vec![
            Method::ZeroShot,
            Method::Cupl,
            Method::CoOp {
                class_specific: false,
            },
        ];
        if self.cocoop {
            m.push(Method::CoCoOp);
        }
        m.extend([
            Method::KgCoOp {
                weight: self.kg_weight,
            },
            Method::Aape(self.aape(self.lambda, Aggregation::Attention)),
            Method::Aape(self.aape(0.0, Aggregation::Attention)),
            Method::Aape(self.aape(self.lambda, Aggregation::Mean)),
            // Diagnostic row (no claim): the additive combination without the projection P.
            Method::Aape(AapeConfig {
                combiner: Combiner::Additive,
                ..self.aape(self.lambda, Aggregation::Attention)
            }),
        ]);
        m
    }
}

/// One seed's frozen inputs: the pre-trained CLIP, the texts of base and novel classes, the
/// few-shot training features and the test features.
pub struct Prepared {
    /// The world.
    pub world: AttrWorld,
    /// The pre-trained CLIP (inference and frozen training copies).
    pub clip: Pretrained,
    /// Base-class texts (inference device).
    pub base: ClassTexts,
    /// Novel-class texts (inference device).
    pub novel: ClassTexts,
    /// Training features (K shots per base class).
    pub train: Features,
    /// In-distribution test features of base and novel classes (labels local to each set).
    pub test: [Features; 2],
    /// Shifted test features of base and novel classes.
    pub shifted: [Features; 2],
    /// Novel test rows whose class name is rare in pre-training.
    pub rare_novel: Vec<bool>,
    /// The CLIP's logit scale.
    pub scale: f64,
}

/// World, CLIP pre-training, CuPL file round trip, features and texts of one seed.
pub fn prepare(plan: &AapePlan, seed: Seed, dir: &Path, device: &Device) -> Result<Prepared> {
    let world = AttrWorld::new(plan.world(), seed.derive("world").value())?;
    let tok = world.tokenizer();
    let pcfg = PretrainConfig {
        model: SmallClipConfig {
            vocab_size: tok.vocab_size(),
            embed_dim: plan.embed_dim,
            text_width: plan.text_width,
            text_layers: plan.text_layers,
            max_tokens: 16,
            channels: plan.channels.clone(),
        },
        images_per_class: plan.pretrain_images_per_class,
        steps: plan.pretrain_steps,
        batch: plan.pretrain_batch,
        lr: plan.pretrain_lr,
    };
    let clip = pretrain(&world, &pcfg, seed, Some(&dir.join("pretrain")), device)
        .context("pre-training the small CLIP")?;
    // The descriptions go through the CuPL reader, as a user's file would.
    let prompts_path = dir.join("prompts.json");
    write_cupl(
        &prompts_path,
        &world.descriptions(&mut seed.derive("descriptions").rng()),
    )?;
    let names = world.class_names();
    let descriptions = read_cupl(&prompts_path)?.for_classes(&names)?;
    let model = &clip.model;
    let texts = |classes: &[usize]| -> Result<ClassTexts> {
        let n: Vec<String> = classes.iter().map(|&c| names[c].clone()).collect();
        let t: Vec<String> = classes.iter().map(|&c| AttrWorld::template(c)).collect();
        let d: Vec<Vec<String>> = classes.iter().map(|&c| descriptions[c].clone()).collect();
        Ok(ClassTexts::build(
            model,
            &tok,
            &ClassTextSpec {
                names: &n,
                templates: &t,
                descriptions: &d,
                n_ctx: plan.n_ctx,
            },
            device,
        )?)
    };
    let (base_c, novel_c) = (world.base(), world.novel());
    let base = texts(&base_c)?;
    let novel = texts(&novel_c)?;
    let mut rng = seed.derive("images").rng();
    let nb = base_c.len();
    let feats = |classes: &[usize],
                 n: usize,
                 dom: Domain,
                 rng: &mut rand_chacha::ChaCha8Rng|
     -> Result<(Features, Vec<usize>)> {
        let im = world.render(classes, n, dom, rng);
        let off = classes[0];
        let labels: Vec<usize> = im.labels.iter().map(|&y| y - off).collect();
        Ok((
            Features::encode(model, &im.pixels, im.side, labels, 256, device)?,
            im.labels,
        ))
    };
    let (train, _) = feats(&base_c, plan.shots, Domain::InDistribution, &mut rng)?;
    let (tb, _) = feats(
        &base_c,
        plan.test_per_class,
        Domain::InDistribution,
        &mut rng,
    )?;
    let (tn, tn_cls) = feats(
        &novel_c,
        plan.test_per_class,
        Domain::InDistribution,
        &mut rng,
    )?;
    let (sb, _) = feats(&base_c, plan.test_per_class, Domain::Shifted, &mut rng)?;
    let (sn, _) = feats(&novel_c, plan.test_per_class, Domain::Shifted, &mut rng)?;
    debug_assert_eq!(nb, base.len());
    let rare_novel = tn_cls.iter().map(|&c| world.rare[c]).collect();
    let scale = model.logit_scale()?;
    Ok(Prepared {
        world,
        clip,
        base,
        novel,
        train,
        test: [tb, tn],
        shifted: [sb, sn],
        rare_novel,
        scale,
    })
}

/// Scores of one method on one seed.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScores {
    /// Method name.
    pub method: String,
    /// In-distribution base accuracy.
    pub base: f64,
    /// In-distribution novel accuracy.
    pub novel: f64,
    /// Shifted base accuracy.
    pub ood_base: f64,
    /// Shifted novel accuracy.
    pub ood_novel: f64,
    /// Novel accuracy on the classes whose names are rare in pre-training.
    pub rare_novel: f64,
    /// Inference time per novel test image (ms), in chunks of 256 images (CoOp's class
    /// weights are recomputed per chunk; see the crate's bench for per-step figures).
    pub ms_per_image: f64,
}

impl MethodScores {
    /// Harmonic mean, in distribution.
    pub fn hm(&self) -> f64 {
        harmonic_mean(self.base, self.novel)
    }
    /// Harmonic mean, shifted.
    pub fn ood_hm(&self) -> f64 {
        harmonic_mean(self.ood_base, self.ood_novel)
    }
}

/// One seed's results.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// Per method, in [`AapePlan::methods`] order.
    pub methods: Vec<MethodScores>,
    /// Few-shot sweep: `(K, CoOp HM, AAPE HM)`.
    pub sweep: Vec<(usize, f64, f64)>,
    /// Final pre-training loss.
    pub pretrain_loss: f64,
}

fn score(learned: &Learned, p: &Prepared, name: String, device: &Device) -> Result<MethodScores> {
    let m = &p.clip.model;
    let acc = |t: &ClassTexts, f: &Features| learned.accuracy(m, t, f, p.scale, 256, device);
    let t0 = Instant::now();
    let novel = acc(&p.novel, &p.test[1])?;
    let ms = 1e3 * t0.elapsed().as_secs_f64() / p.test[1].len() as f64;
    Ok(MethodScores {
        method: name,
        base: acc(&p.base, &p.test[0])?,
        novel,
        ood_base: acc(&p.base, &p.shifted[0])?,
        ood_novel: acc(&p.novel, &p.shifted[1])?,
        rare_novel: acc(&p.novel, &p.test[1].filter(&p.rare_novel))?,
        ms_per_image: ms,
    })
}

/// Train and score every method of `plan` on `p`; learner checkpoints go under `dir`.
pub fn evaluate_methods(
    plan: &AapePlan,
    p: &Prepared,
    seed: Seed,
    dir: &Path,
    device: &Device,
) -> Result<SeedResult> {
    let ad = device.clone().autodiff();
    let base_ad = p.base.to_device(&ad);
    let tok = p.world.tokenizer();
    let run_method = |m: &Method, data: &Features, k: usize, label: &str| -> Result<Learned> {
        let inputs = LearnInputs {
            model: &p.clip.train_model,
            tok: &tok,
            texts: &base_ad,
            data,
            scale: p.scale,
        };
        let s = seed.derive(label).index(k as u64);
        s.seed_device(&ad);
        train(m, &inputs, &plan.learn(s), Some(&dir.join(label)), &ad)
            .with_context(|| format!("training {}", m.name()))
    };
    let mut methods = Vec::new();
    for (k, m) in plan.methods().iter().enumerate() {
        let t0 = Instant::now();
        let learned = run_method(m, &p.train, k, &format!("method{k}"))?;
        let s = score(&learned, p, m.name(), device)?;
        eprintln!(
            "  {:<28} base {:.3} novel {:.3} HM {:.3} | shifted HM {:.3} ({:.1} s)",
            s.method,
            s.base,
            s.novel,
            s.hm(),
            s.ood_hm(),
            t0.elapsed().as_secs_f64()
        );
        methods.push(s);
    }
    let mut sweep = Vec::new();
    for &k in &plan.shots_sweep {
        let keep: Vec<bool> = {
            let mut seen = vec![0usize; p.base.len()];
            p.train
                .labels
                .iter()
                .map(|&y| {
                    seen[y] += 1;
                    seen[y] <= k
                })
                .collect()
        };
        let data = p.train.filter(&keep);
        let mut hm = Vec::new();
        for (j, m) in [
            Method::CoOp {
                class_specific: false,
            },
            Method::Aape(plan.aape(plan.lambda, Aggregation::Attention)),
        ]
        .iter()
        .enumerate()
        {
            let learned = run_method(m, &data, j, &format!("sweep{k}-{j}"))?;
            hm.push(score(&learned, p, m.name(), device)?.hm());
        }
        sweep.push((k, hm[0], hm[1]));
    }
    Ok(SeedResult {
        methods,
        sweep,
        pretrain_loss: p.clip.final_loss,
    })
}

/// Runs the eval with `plan`; [`EvalRun::finish`] writes the report.
pub fn run(run: &EvalRun, plan: &AapePlan) -> Result<Report> {
    anyhow::ensure!(
        plan.shots_sweep.iter().all(|&k| k <= plan.shots),
        "shots_sweep: every K must be at most shots ({})",
        plan.shots
    );
    let mut results = Vec::with_capacity(plan.seeds);
    for i in 0..plan.seeds {
        let seed = Seed::new(run.seed()).index(i as u64);
        let t0 = Instant::now();
        let dir = run.run_dir(&format!("seed{i}"))?;
        let p = prepare(plan, seed, &dir, &run.device)
            .with_context(|| format!("preparing seed {i}"))?;
        eprintln!(
            "seed {i}: CLIP pre-trained (loss {:.3}) in {:.0} s",
            p.clip.final_loss,
            t0.elapsed().as_secs_f64()
        );
        results.push(evaluate_methods(plan, &p, seed, &dir, &run.device)?);
        eprintln!("seed {i}: {:.0} s", t0.elapsed().as_secs_f64());
    }
    report(run, plan, &results)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
}

/// Claims, tables and figures from the per-seed results.
pub fn report(run: &EvalRun, plan: &AapePlan, results: &[SeedResult]) -> Result<Report> {
    anyhow::ensure!(!results.is_empty(), "no seeds ran");
    let names: Vec<String> = results[0]
        .methods
        .iter()
        .map(|m| m.method.clone())
        .collect();
    let find = |prefix: &str| -> Result<usize> {
        names
            .iter()
            .position(|n| n == prefix)
            .with_context(|| format!("method {prefix} missing"))
    };
    let col = |k: usize, f: &dyn Fn(&MethodScores) -> f64| -> Vec<f64> {
        results.iter().map(|r| f(&r.methods[k])).collect()
    };
    let (zs, cupl, coop) = (
        find("zero-shot")?,
        find("CuPL (descriptions)")?,
        find("CoOp")?,
    );
    let aape = find(&format!("AAPE (attention, λ={})", plan.lambda))?;
    let aape0 = find("AAPE (attention, λ=0)")?;
    let aape_mean = find(&format!("AAPE (mean, λ={})", plan.lambda))?;
    let mut rep = run.report("P7", "AAPE: aggregate-and-adapted prompt embeddings");

    // Premise.
    let (zs_n, cupl_n) = (mean(&col(zs, &|m| m.novel)), mean(&col(cupl, &|m| m.novel)));
    rep.add_claim(
        Claim::new(
            "premise-descriptions-help",
            "Pilot: the descriptions carry information about novel classes that names alone do not",
            "novel accuracy, zero-shot with descriptions (CuPL mean) − zero-shot with names, mean over seeds; holds if > 0",
            cupl_n,
            cupl_n > zs_n,
        )
        .baseline(zs_n, "zero-shot with names")
        .detail(format!(
            "on the novel classes with rare names: descriptions {:.3}, names {:.3}",
            mean(&col(cupl, &|m| m.rare_novel)),
            mean(&col(zs, &|m| m.rare_novel))
        )),
    );
    // Claim 1.
    let hm = |k: usize| mean(&col(k, &|m| m.hm()));
    let nov = |k: usize| mean(&col(k, &|m| m.novel));
    rep.add_claim(
        Claim::new(
            "aape-beats-coop",
            "AAPE beats CoOp on novel classes and on the harmonic mean",
            "HM (ours) vs CoOp's HM, mean over seeds; holds if AAPE's novel accuracy and HM are both higher",
            hm(aape),
            nov(aape) > nov(coop) && hm(aape) > hm(coop),
        )
        .baseline(hm(coop), "CoOp HM")
        .detail(format!(
            "novel: AAPE {:.3}, CoOp {:.3}; base: AAPE {:.3}, CoOp {:.3}",
            nov(aape),
            nov(coop),
            mean(&col(aape, &|m| m.base)),
            mean(&col(coop, &|m| m.base))
        )),
    );
    // Claim 2.
    let (g, g0) = (hm(aape) - hm(coop), hm(aape0) - hm(coop));
    rep.add_claim(
        Claim::new(
            "lambda0-loses-gain",
            "Without the distillation term (λ = 0) most of AAPE's gain over CoOp is lost",
            "HM gain over CoOp at λ = 0 (ours) vs at the default λ (baseline), mean over seeds; holds if the default gain > 0 and the λ = 0 gain ≤ half of it",
            g0,
            g > 0.0 && g0 <= 0.5 * g,
        )
        .baseline(g, format!("HM gain at λ = {}", plan.lambda))
        .detail(format!("HM: λ=0 {:.3}, λ={} {:.3}, CoOp {:.3}", hm(aape0), plan.lambda, hm(aape), hm(coop))),
    );
    // Claim 3.
    rep.add_claim(
        Claim::new(
            "attention-beats-mean",
            "Attention aggregation beats mean aggregation when the prompts are noisy",
            format!(
                "HM with attention (ours) vs mean aggregation, mean over seeds, {:.0} % hallucinated and {:.0} % irrelevant descriptions; holds if higher",
                100.0 * plan.hallucination_rate,
                100.0 * plan.irrelevant_rate
            ),
            hm(aape),
            hm(aape) > hm(aape_mean),
        )
        .baseline(hm(aape_mean), "mean aggregation HM"),
    );
    // Claim 4.
    let drop = |k: usize| mean(&col(k, &|m| m.hm() - m.ood_hm()));
    rep.add_claim(
        Claim::new(
            "ood-degrades-less",
            "On the shifted test set AAPE degrades less than CoOp",
            "HM in distribution − HM on the shifted test set (ours: AAPE, baseline: CoOp), mean over seeds; holds if AAPE's drop is smaller",
            drop(aape),
            drop(aape) < drop(coop),
        )
        .baseline(drop(coop), "CoOp's drop")
        .detail(format!(
            "shifted HM: AAPE {:.3}, CoOp {:.3}",
            mean(&col(aape, &|m| m.ood_hm())),
            mean(&col(coop, &|m| m.ood_hm()))
        )),
    );

    // Table.
    let mut table = Table::new(
        format!(
            "Base-to-novel, {}-shot, {} classes (mean ± sd over {} seeds)",
            plan.shots,
            plan.classes,
            results.len()
        ),
        [
            "method",
            "base",
            "novel",
            "HM",
            "shifted base",
            "shifted novel",
            "shifted HM",
            "novel, rare names",
            "ms / image",
        ],
    );
    let pm = |v: &[f64]| format!("{:.3} ± {:.3}", mean(v), sd(v));
    for (k, n) in names.iter().enumerate() {
        table.add_row(vec![
            Cell::from(n.as_str()),
            Cell::from(pm(&col(k, &|m| m.base))),
            Cell::from(pm(&col(k, &|m| m.novel))),
            Cell::from(pm(&col(k, &|m| m.hm()))),
            Cell::from(pm(&col(k, &|m| m.ood_base))),
            Cell::from(pm(&col(k, &|m| m.ood_novel))),
            Cell::from(pm(&col(k, &|m| m.ood_hm()))),
            Cell::from(pm(&col(k, &|m| m.rare_novel))),
            Cell::from(format!("{:.4}", mean(&col(k, &|m| m.ms_per_image)))),
        ]);
        let key = n
            .to_lowercase()
            .replace(['(', ')', ',', '='], "")
            .replace([' ', '-'], "_")
            .replace('λ', "lambda");
        rep.add_metric(format!("hm_{key}"), hm(k));
        rep.add_metric(format!("novel_{key}"), nov(k));
        rep.add_metric(format!("ood_hm_{key}"), mean(&col(k, &|m| m.ood_hm())));
    }
    rep.add_table(table);
    rep.add_table(
        Table::new(
            "Paper figures (ViT-B/16, 16-shot, average of 11 datasets; AAPE's own row not retrievable)",
            ["method", "base", "novel", "HM"],
        )
        .row(vec!["CLIP zero-shot".into(), "69.34".into(), "74.22".into(), "71.70".into()])
        .row(vec!["CoOp".into(), "82.69".into(), "63.22".into(), "71.66".into()])
        .row(vec!["CoCoOp".into(), "80.47".into(), "71.69".into(), "75.83".into()])
        .row(vec!["KgCoOp".into(), "80.73".into(), "73.60".into(), "77.00".into()]),
    );

    // Figures.
    let out = run.out();
    plot::bar(
        out.join("pilot.png"),
        &BarChart {
            title: "Pilot: zero-shot novel accuracy, names vs descriptions".into(),
            y_label: "accuracy".into(),
            groups: vec!["all novel classes".into(), "novel, rare names".into()],
            series: vec![
                (
                    "names".into(),
                    vec![zs_n, mean(&col(zs, &|m| m.rare_novel))],
                ),
                (
                    "descriptions (CuPL)".into(),
                    vec![cupl_n, mean(&col(cupl, &|m| m.rare_novel))],
                ),
            ],
        },
    )
    .context("plotting the pilot")?;
    rep.add_figure(Figure::new(
        "Pilot",
        "pilot.png",
        "Zero-shot accuracy on novel classes with class names vs the class descriptions",
    ));
    plot::bar(
        out.join("base_novel.png"),
        &BarChart {
            title: "Base-to-novel accuracy (mean over seeds)".into(),
            y_label: "accuracy".into(),
            groups: axis_labels(&names),
            series: vec![
                (
                    "base".into(),
                    (0..names.len())
                        .map(|k| mean(&col(k, &|m| m.base)))
                        .collect(),
                ),
                (
                    "novel".into(),
                    (0..names.len())
                        .map(|k| mean(&col(k, &|m| m.novel)))
                        .collect(),
                ),
                ("HM".into(), (0..names.len()).map(hm).collect()),
            ],
        },
    )
    .context("plotting base/novel")?;
    rep.add_figure(Figure::new(
        "Base-to-novel",
        "base_novel.png",
        "Base, novel and harmonic-mean accuracy of every method (ZS: zero-shot templates; AAPE λ: attention aggregation at distillation weight λ; AAPE-mean: mean aggregation; AAPE-add: additive combination)",
    ));
    plot::bar(
        out.join("shifted.png"),
        &BarChart {
            title: "HM in distribution vs on the shifted test set".into(),
            y_label: "harmonic mean".into(),
            groups: axis_labels(&names),
            series: vec![
                ("in distribution".into(), (0..names.len()).map(hm).collect()),
                (
                    "shifted".into(),
                    (0..names.len())
                        .map(|k| mean(&col(k, &|m| m.ood_hm())))
                        .collect(),
                ),
            ],
        },
    )
    .context("plotting the shift")?;
    rep.add_figure(Figure::new(
        "Shifted test set",
        "shifted.png",
        "Harmonic mean in distribution and on the shifted (OOD) test set",
    ));
    if !results[0].sweep.is_empty() {
        let ks: Vec<usize> = results[0].sweep.iter().map(|s| s.0).collect();
        let series = |j: usize| -> Vec<(f64, f64)> {
            ks.iter()
                .enumerate()
                .map(|(i, &k)| {
                    let v: Vec<f64> = results
                        .iter()
                        .map(|r| if j == 0 { r.sweep[i].1 } else { r.sweep[i].2 })
                        .collect();
                    (k as f64, mean(&v))
                })
                .collect()
        };
        plot::line(
            out.join("shots.png"),
            &LinePlot {
                title: "Few-shot sweep: HM against shots per base class".into(),
                x_label: "shots K".into(),
                y_label: "harmonic mean".into(),
                series: vec![
                    Series::new("CoOp", series(0)),
                    Series::new("AAPE", series(1)),
                ],
                log_x: true,
            },
        )
        .context("plotting the sweep")?;
        rep.add_figure(Figure::new(
            "Few-shot sweep",
            "shots.png",
            "HM of CoOp and AAPE for K in the sweep",
        ));
    }
    rep.add_note(format!(
        "{} classes ({} base / {} novel, {} with rare names), {} attributes, {}x{} images; small CLIP (CNN {:?} + causal text Transformer {}x{}) pre-trained {} steps of {} pairs; {}-shot prompt learning, {} steps of {}, {} context tokens; AAPE: {} heads, d_k {}, generator {}→{}→{}, λ {}, residual concat-projection; KgCoOp w {}",
        plan.classes,
        plan.classes / 2,
        plan.classes / 2,
        plan.under_represented,
        plan.attributes,
        plan.side,
        plan.side,
        plan.channels,
        plan.text_layers,
        plan.text_width,
        plan.pretrain_steps,
        plan.pretrain_batch,
        plan.shots,
        plan.steps,
        plan.batch,
        plan.n_ctx,
        plan.heads,
        plan.d_k,
        plan.embed_dim,
        plan.gen_hidden,
        plan.embed_dim,
        plan.lambda,
        plan.kg_weight
    ));
    std::fs::write(
        out.join("seeds.json"),
        serde_json::to_string_pretty(results).context("serialising the seeds")?,
    )
    .context("writing seeds.json")?;
    Ok(rep)
}

/// Method names short enough to sit side by side under a 9-group bar chart: "AAPE (attention,
/// λ=8)" becomes "AAPE λ=8", "AAPE (mean, λ=8)" "AAPE-mean", an additive combination
/// "AAPE-add" (both at the plan's λ), "CuPL (descriptions)" "CuPL", "zero-shot" "ZS". The
/// report's tables keep the full names.
fn axis_labels(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let short = n
                .replace("CuPL (descriptions)", "CuPL")
                .replace("CoOp (class-specific)", "CoOp (cls)")
                .replace("zero-shot", "ZS");
            match short
                .strip_prefix("AAPE (")
                .and_then(|r| r.strip_suffix(')'))
            {
                Some(inner) => {
                    let parts: Vec<&str> = inner.split(", ").collect();
                    if parts.contains(&"additive") {
                        "AAPE-add".into()
                    } else if parts.first() == Some(&"mean") {
                        "AAPE-mean".into()
                    } else {
                        format!("AAPE {}", parts.get(1).copied().unwrap_or_default())
                    }
                }
                None => short,
            }
        })
        .collect()
}

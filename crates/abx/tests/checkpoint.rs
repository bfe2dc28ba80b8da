//! `ember_abx::checkpoint` end to end on a tiny XLM-R checkpoint (random weights saved by
//! `transformers`, with a Unigram/Metaspace `tokenizer.json`) and a FLORES-style folder the
//! test writes: one row per hidden state, errors in [0, 1], report files; bad inputs give
//! clear errors; pooled vectors agree between flex and ndarray when ndarray is compiled.

use std::path::{Path, PathBuf};

use ember_abx::checkpoint::{CheckpointAbx, report_header};
use ember_core::data::flores::{ParallelText, write_parallel};
use ember_core::nn::LanguageModel;
use ember_core::pretrained::PretrainedLm;
use ember_core::pretrained::tokenizer::HfTokenizer;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xlm-roberta-tiny")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-abx-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const ENG: [&str; 8] = [
    "the cat sat on the mat.",
    "a dog runs in the park.",
    "she reads a long book.",
    "we eat bread and cheese.",
    "the sun is hot today.",
    "my brother plays music.",
    "they walk to the station.",
    "it rains in the morning.",
];
const DEU: [&str; 8] = [
    "die katze sass auf der matte.",
    "ein hund rennt im park.",
    "sie liest ein langes buch.",
    "wir essen brot und kaese.",
    "die sonne ist heute heiss.",
    "mein bruder spielt musik.",
    "sie gehen zum bahnhof.",
    "es regnet am morgen.",
];
const FRA: [&str; 8] = [
    "le chat est sur le tapis.",
    "un chien court dans le parc.",
    "elle lit un long livre.",
    "nous mangeons du pain et du fromage.",
    "le soleil est chaud aujourd'hui.",
    "mon frere joue de la musique.",
    "ils marchent vers la gare.",
    "il pleut le matin.",
];

fn flores(name: &str) -> PathBuf {
    let dir = tmp(name);
    let text = ParallelText {
        langs: vec!["eng_Latn".into(), "deu_Latn".into(), "fra_Latn".into()],
        lines: [ENG, DEU, FRA]
            .iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    write_parallel(&dir, &text, "{lang}.devtest").unwrap();
    dir
}

fn flex() -> burn::prelude::Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

const LANGS: [&str; 3] = ["eng_Latn", "deu_Latn", "fra_Latn"];

#[test]
fn fixture_ids_fit_the_model() {
    let tok = HfTokenizer::from_dir(model_dir()).unwrap();
    let model = PretrainedLm::from_dir(model_dir(), &flex()).unwrap();
    assert!(tok.vocab_size() <= model.vocab_size());
    assert_eq!(model.vocab_size(), 120);
}

#[test]
fn every_layer_report_and_heatmaps() {
    let data = flores("ok");
    let res = CheckpointAbx::new(model_dir(), &data, LANGS)
        .run(&flex())
        .unwrap();
    assert_eq!(res.n_layers, 2);
    assert_eq!(res.layers.len(), res.n_layers + 1);
    assert_eq!(res.n_sentences, 8);
    assert_eq!(res.pooled.layers.len(), 3);
    assert!(
        res.pooled
            .layers
            .iter()
            .all(|l| l.len() == 3 * 8 * res.d_model)
    );
    for (i, l) in res.layers.iter().enumerate() {
        assert_eq!(l.layer, i);
        for e in [l.ld, l.md, l.md_top1] {
            assert!((0.0..=1.0).contains(&e), "layer {i}: {e}");
        }
        assert_eq!(l.ld_pairs.len(), 3);
        assert_eq!(l.md_pairs.len(), 3);
    }
    // the fixture's specials: <s> <pad> </s> <unk>
    assert_eq!(res.special_ids, vec![0, 1, 2, 3]);
    let out = tmp("report");
    let path = res.write_report(report_header("flex"), &out).unwrap();
    assert_eq!(path, out.join("report.json"));
    for f in [
        "report.json",
        "report.md",
        "abx_layers.png",
        "ld_pairs_layer0.png",
        "md_pairs_layer0.png",
        "ld_pairs_layer1.png",
        "md_pairs_layer1.png",
        "ld_pairs_layer2.png",
        "md_pairs_layer2.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report = ember_core::report::Report::load(&out).unwrap();
    assert!(report.claims.is_empty());
    assert_eq!(report.tables[0].rows.len(), 3);

    // truncation and a sentence cap
    let mut job = CheckpointAbx::new(model_dir(), &data, LANGS);
    job.max_sentences = Some(4);
    job.max_tokens = Some(5);
    job.batch = 3;
    let small = job.run(&flex()).unwrap();
    assert_eq!(small.n_sentences, 4);
    assert!(small.n_truncated > 0 && small.mean_tokens <= 5.0);
}

fn err(job: &CheckpointAbx) -> String {
    job.run(&flex()).unwrap_err().to_string()
}

#[test]
fn bad_inputs_are_clear_errors() {
    let data = flores("bad");
    let e = err(&CheckpointAbx::new(
        model_dir(),
        &data,
        ["eng_Latn", "xxx_Latn"],
    ));
    assert!(e.contains("xxx_Latn") && e.contains("not found"), "{e}");
    assert!(e.contains("eng_Latn"), "lists what is there: {e}");

    let e = err(&CheckpointAbx::new(model_dir(), &data, ["eng_Latn"]));
    assert!(e.contains("at least 2 languages"), "{e}");

    let e = err(&CheckpointAbx::new(
        model_dir(),
        &data,
        ["eng_Latn", "eng_Latn"],
    ));
    assert!(e.contains("twice"), "{e}");

    // a checkpoint folder without tokenizer.json
    let no_tok = tmp("notok");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(f), no_tok.join(f)).unwrap();
    }
    let e = err(&CheckpointAbx::new(&no_tok, &data, LANGS));
    assert!(e.contains("tokenizer.json"), "{e}");

    // mismatched sentence counts
    let short = tmp("short");
    for l in LANGS {
        std::fs::copy(
            data.join(format!("{l}.devtest")),
            short.join(format!("{l}.devtest")),
        )
        .unwrap();
    }
    std::fs::write(short.join("fra_Latn.devtest"), "un.\ndeux.\n").unwrap();
    let e = err(&CheckpointAbx::new(model_dir(), &short, LANGS));
    assert!(
        e.contains("8 lines") && e.contains("fra_Latn.devtest"),
        "{e}"
    );

    // one sentence is not enough
    let mut job = CheckpointAbx::new(model_dir(), &data, LANGS);
    job.max_sentences = Some(1);
    assert!(err(&job).contains("at least 2"));
    // truncation beyond the model's positions
    let mut job = CheckpointAbx::new(model_dir(), &data, LANGS);
    job.max_tokens = Some(1000);
    assert!(err(&job).contains("exceeds the model"));
    // an empty sentence pools nothing
    let empty = tmp("empty");
    for l in LANGS {
        std::fs::copy(
            data.join(format!("{l}.devtest")),
            empty.join(format!("{l}.devtest")),
        )
        .unwrap();
    }
    let mut deu: Vec<&str> = DEU.to_vec();
    deu[2] = "";
    std::fs::write(empty.join("deu_Latn.devtest"), deu.join("\n")).unwrap();
    let e = err(&CheckpointAbx::new(model_dir(), &empty, LANGS));
    assert!(e.contains("sentence 3") && e.contains("deu_Latn"), "{e}");
    // missing folders
    let e = err(&CheckpointAbx::new(model_dir(), data.join("nope"), LANGS));
    assert!(e.contains("nope"), "{e}");
}

#[cfg(feature = "ndarray")]
#[test]
fn pooled_vectors_agree_flex_ndarray() {
    let data = flores("parity");
    let job = CheckpointAbx::new(model_dir(), &data, LANGS);
    let a = job.run(&flex()).unwrap();
    let nd = ember_core::backend::device_by_name("ndarray").unwrap();
    let b = job.run(&nd).unwrap();
    for (x, y) in a
        .pooled
        .layers
        .iter()
        .flatten()
        .zip(b.pooled.layers.iter().flatten())
    {
        assert!((x - y).abs() <= 1e-4, "{x} vs {y}");
    }
    for (p, q) in a.layers.iter().zip(&b.layers) {
        assert!((p.ld - q.ld).abs() < 0.05 && (p.md - q.md).abs() < 0.05);
    }
}

//! The registry of paper evals that `cargo xtask eval` knows how to run.
//!
//! Adding an eval is one line in [`EVALS`]: the eval binary must accept
//! `--device <flex|ndarray|wgpu> --scale <quick|full> --out <DIR> --seed <N>` and write
//! `<DIR>/report.json` with `ember_report::Report::write`.

use anyhow::bail;

/// One runnable eval: `cargo run -p <package> --bin <bin>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalSpec {
    /// Short name used on the command line and as the report directory, e.g. `"abx"`.
    pub name: &'static str,
    /// Paper id, e.g. `"P2"`, or `"core"`.
    pub paper: &'static str,
    /// Cargo package that owns the eval binary.
    pub package: &'static str,
    /// Binary target name.
    pub bin: &'static str,
    /// One line on what the eval measures.
    pub description: &'static str,
}

impl EvalSpec {
    pub const fn new(
        name: &'static str,
        paper: &'static str,
        package: &'static str,
        bin: &'static str,
        description: &'static str,
    ) -> Self {
        EvalSpec {
            name,
            paper,
            package,
            bin,
            description,
        }
    }
}

/// Every registered eval, in the order `cargo xtask eval` runs them.
#[rustfmt::skip]
pub const EVALS: &[EvalSpec] = &[
    //            name    paper   package       bin          description
    EvalSpec::new("core", "core", "ember-core", "eval-core", "causal LM on synthlang: held-out loss vs unigram entropy, tokens/s"),
    EvalSpec::new("abx", "P2", "ember-abx", "eval-abx", "ABX language/meaning discrimination over layers x checkpoints of a synthlang MLM"),
    EvalSpec::new("proxy-fda", "P1", "ember-proxy-fda", "eval-proxy-fda", "Proxy-FDA: kNN-graph feature alignment vs naive FT/LP-FT/L2-SP/LDIFS/WiSE-FT on rendered images; forgetting by Δ_LP, OT vs L2"),
    EvalSpec::new("soup", "P5", "ember-soup", "eval-soup", "Soup-of-Experts: specialists instantiated from domain weights vs generic and CRISP specialists on a synthetic multi-domain corpus"),
    EvalSpec::new("aux-lang", "P6", "ember-soup", "eval-aux-lang", "Auxiliary-language pretraining for a data-constrained target: closeness x aux quality, model size vs scarce target data"),
    EvalSpec::new("spkver", "P10", "ember-spkver", "eval-spkver", "Speaker verification on SSL features: SUPERB x-vector baseline vs simplified head, data efficiency, log-mel control"),
    EvalSpec::new("reward", "P9", "ember-reward", "eval-reward", "Implicit (DPO) vs explicit Bradley-Terry reward models: preference accuracy in distribution and under five shifts of a synthetic preference world"),
    EvalSpec::new("aape", "P7", "ember-aape", "eval-aape", "AAPE: prompt embeddings distilled from noisy class descriptions vs zero-shot/CuPL/CoOp/CoCoOp/KgCoOp on a small CLIP; base-to-novel HM, shifted test set, λ=0 and mean-aggregation ablations"),
    EvalSpec::new("spatial-audio", "P8", "ember-spatial-audio", "eval-spatial-audio", "ELSA spatial audio-text embeddings: FOA rooms + spatial captions; retrieval vs a semantic-only baseline, localisation vs intensity vectors"),
    EvalSpec::new("lang-experts", "P3+P4", "ember-lang-experts", "eval-lang-experts", "Language experts (P3): forcing a language's expert MLP units vs random units, cross-lingual retrieval on synthlang; concept experts (P4): expert-overlap similarity vs simulated ratings and taxonomy"),
];

/// Looks an eval up by name.
pub fn find(name: &str) -> Option<&'static EvalSpec> {
    EVALS.iter().find(|e| e.name == name)
}

/// The evals to run for the given names, in the order given, without duplicates; all of
/// them when `names` is empty. Unknown names are an error listing the known ones.
pub fn select(names: &[String]) -> anyhow::Result<Vec<&'static EvalSpec>> {
    if names.is_empty() {
        return Ok(EVALS.iter().collect());
    }
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| find(n).is_none())
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = EVALS.iter().map(|e| e.name).collect();
        bail!(
            "unknown eval{} {}; known evals: {} (see `cargo xtask eval --list`)",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        );
    }
    let mut selected: Vec<&'static EvalSpec> = Vec::new();
    for name in names {
        let spec = find(name).expect("checked above");
        if !selected.contains(&spec) {
            selected.push(spec);
        }
    }
    Ok(selected)
}

/// `--list` output: name, paper and description, aligned.
pub fn list() -> String {
    let w_name = EVALS
        .iter()
        .map(|e| e.name.len())
        .chain(["name".len()])
        .max()
        .unwrap_or(4);
    let w_paper = EVALS
        .iter()
        .map(|e| e.paper.len())
        .chain(["paper".len()])
        .max()
        .unwrap_or(5);
    let mut out = format!("{:w_name$}  {:w_paper$}  description\n", "name", "paper");
    for e in EVALS {
        out.push_str(&format!(
            "{:w_name$}  {:w_paper$}  {}\n",
            e.name, e.paper, e.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn registry_is_consistent() {
        assert!(!EVALS.is_empty());
        for (i, e) in EVALS.iter().enumerate() {
            assert!(!e.name.is_empty() && !e.package.is_empty() && !e.bin.is_empty());
            assert!(
                e.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{}",
                e.name
            );
            assert!(
                EVALS[..i].iter().all(|o| o.name != e.name),
                "duplicate eval {}",
                e.name
            );
        }
        let core = find("core").unwrap();
        assert_eq!(
            (core.paper, core.package, core.bin),
            ("core", "ember-core", "eval-core")
        );
    }

    #[test]
    fn select_all_by_default() {
        assert_eq!(select(&[]).unwrap().len(), EVALS.len());
    }

    #[test]
    fn select_dedupes_in_order() {
        let s = select(&names(&["core", "core"])).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "core");
    }

    #[test]
    fn unknown_names_list_known_ones() {
        let err = select(&names(&["core", "nope", "zzz"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown evals `nope`, `zzz`"), "{err}");
        assert!(err.contains("known evals: core"), "{err}");
    }

    #[test]
    fn list_shows_every_eval() {
        let l = list();
        assert!(l.starts_with("name"));
        for e in EVALS {
            assert!(l.contains(e.description));
        }
    }
}

//! `cargo xtask tidy`: the workspace conventions a compiler lint cannot check.
//!
//! Every crate under `crates/` with an eval binary (a *paper crate*, plus ember-core):
//! - forwards the backend features (`default = ["flex", "eval"]`, `flex`, `ndarray`, `wgpu`
//!   to ember-core's) so a user picks the backend by cargo feature on any crate, and keeps its
//!   eval harness behind an `eval` feature that enables `ember-core/eval`;
//! - keeps its experiments in the library (`src/experiment.rs` or `src/experiment/`), each
//!   eval binary a thin wrapper of at most [`MAX_EVAL_BIN_LINES`] lines that requires the
//!   `eval` feature;
//! - has `tests/parity.rs` (flex, ndarray and wgpu agree);
//! - registers every `src/bin/eval-*.rs` in [`crate::evals::EVALS`], and every registered eval
//!   points at an existing binary of the named package;
//! - has a README with the sections a researcher looks for: the equations and the code that
//!   implements them, how it is checked, what is reconstructed, limitations, the eval;
//! - uses its README as the crate docs (`#![doc = include_str!("../README.md")]`).
//!
//! Every workspace member opts into `[workspace.lints]`. Every committed figure (`.png` /
//! `.svg` outside `tests/`, `assets/` and build output) is referenced by a markdown file, and
//! every image a markdown file links to exists.
//!
//! No library or binary source under `crates/*/src` does arithmetic on a seed (`seed * 10 + 1`,
//! `seed ^ 0x5eed`, `seed.wrapping_add(11)`): seeds come from `ember_core::seed::Seed`'s
//! `derive` / `index` (see [`seed_arithmetic`]). `#[cfg(test)]` modules are skipped; a hash
//! function over data marks its line with [`HASH_MARKER`].
//!
//! `docs/new-crate.md` is the checklist these checks enforce.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::evals::EVALS;

/// README sections every paper crate has (matched case-insensitively in any heading).
pub const README_SECTIONS: [&str; 5] = [
    "equations",
    "how it is checked",
    "reconstructed",
    "limitations",
    "eval",
];

/// Longest an eval binary may be: parse the command line, start the run, call the library's
/// experiment, finish. Anything longer belongs in the crate's `experiment` module.
pub const MAX_EVAL_BIN_LINES: usize = 150;

/// One violated convention, with the file it is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file (relative to the workspace root) the problem is in or about.
    pub path: PathBuf,
    /// What is wrong, and what the convention is.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Every problem of the workspace at `root`, sorted.
pub fn check(root: &Path) -> anyhow::Result<Vec<Problem>> {
    let mut out = Vec::new();
    let mut members = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))? {
        let dir = entry?.path();
        if dir.join("Cargo.toml").is_file() {
            members.push(dir);
        }
    }
    members.sort();
    members.push(root.join("xtask"));
    for dir in &members {
        check_lints(root, dir, &mut out)?;
    }
    for dir in members
        .iter()
        .filter(|d| d.starts_with(root.join("crates")))
    {
        let bins = eval_bins(dir)?;
        if bins.is_empty() {
            continue;
        }
        check_paper_crate(root, dir, &bins, &mut out)?;
    }
    check_registry(root, &mut out)?;
    check_figures(root, &mut out)?;
    check_seeds(root, &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root).unwrap_or(p).to_path_buf()
}

fn read(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
}

/// `name = "..."` of a manifest's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let pkg = manifest.split("[package]").nth(1)?;
    let pkg = pkg.split("\n[").next()?;
    pkg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Manifest lines without spaces, for matching `key=value` whatever the formatting.
fn compact_lines(manifest: &str) -> BTreeSet<String> {
    manifest
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").replace([' ', '\t'], ""))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Names of `src/bin/eval-*.rs`.
fn eval_bins(dir: &Path) -> anyhow::Result<Vec<String>> {
    let bin_dir = dir.join("src/bin");
    let mut v = Vec::new();
    if bin_dir.is_dir() {
        for e in std::fs::read_dir(&bin_dir)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".rs")
                && stem.starts_with("eval-")
            {
                v.push(stem.to_string());
            }
        }
    }
    v.sort();
    Ok(v)
}

fn check_lints(root: &Path, dir: &Path, out: &mut Vec<Problem>) -> anyhow::Result<()> {
    let path = dir.join("Cargo.toml");
    let text = read(&path)?;
    let has = text
        .split("[lints]")
        .nth(1)
        .and_then(|t| t.split("\n[").next())
        .is_some_and(|t| compact_lines(t).contains("workspace=true"));
    if !has {
        out.push(Problem {
            path: rel(root, &path),
            message:
                "missing `[lints] workspace = true` (the workspace lints apply to every member)"
                    .into(),
        });
    }
    Ok(())
}

fn check_paper_crate(
    root: &Path,
    dir: &Path,
    bins: &[String],
    out: &mut Vec<Problem>,
) -> anyhow::Result<()> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = read(&manifest_path)?;
    let package = package_name(&manifest).unwrap_or_default();
    let mut problem = |p: &Path, m: String| {
        out.push(Problem {
            path: rel(root, p),
            message: m,
        })
    };
    if package != "ember-core" {
        let lines = compact_lines(&manifest);
        for want in [
            "default=[\"flex\",\"eval\"]",
            "flex=[\"ember-core/flex\"]",
            "ndarray=[\"ember-core/ndarray\"]",
            "wgpu=[\"ember-core/wgpu\"]",
        ] {
            if !lines.contains(want) {
                problem(
                    &manifest_path,
                    format!(
                        "feature line `{want}` missing: every crate forwards the backends to ember-core"
                    ),
                );
            }
        }
    }
    let eval_feature = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("eval") && l.contains('='));
    let eval_dep = if package == "ember-core" {
        "dep:clap"
    } else {
        "ember-core/eval"
    };
    if !eval_feature.is_some_and(|l| l.contains(eval_dep)) {
        problem(
            &manifest_path,
            format!(
                "no `eval` feature enabling {eval_dep}: the eval harness stays out of library users' builds"
            ),
        );
    }
    if !dir.join("src/experiment.rs").is_file() && !dir.join("src/experiment/mod.rs").is_file() {
        problem(
            &dir.join("src"),
            "no src/experiment.rs or src/experiment/: the experiments live in the library, where tests can run them at tiny size".into(),
        );
    }
    for bin in bins {
        let path = dir.join(format!("src/bin/{bin}.rs"));
        let lines = read(&path)?.lines().count();
        if lines > MAX_EVAL_BIN_LINES {
            problem(
                &path,
                format!(
                    "{lines} lines: an eval binary is a thin wrapper of at most {MAX_EVAL_BIN_LINES}; move the experiment into src/experiment"
                ),
            );
        }
        let block = manifest.split("[[bin]]").skip(1).find(|b| {
            b.split("\n[")
                .next()
                .is_some_and(|b| b.contains(&format!("\"{bin}\"")))
        });
        if !block.is_some_and(|b| {
            compact_lines(b.split("\n[").next().unwrap_or(""))
                .contains("required-features=[\"eval\"]")
        }) {
            problem(
                &manifest_path,
                format!("[[bin]] {bin} lacks `required-features = [\"eval\"]`"),
            );
        }
    }
    if !dir.join("tests/parity.rs").is_file() {
        problem(
            &dir.join("tests"),
            "no tests/parity.rs: flex, ndarray and wgpu must be checked against each other".into(),
        );
    }
    for bin in bins {
        if !EVALS.iter().any(|e| e.bin == bin && e.package == package) {
            problem(
                &dir.join(format!("src/bin/{bin}.rs")),
                format!("eval binary not registered in xtask/src/evals.rs (package {package})"),
            );
        }
    }
    let readme_path = dir.join("README.md");
    match std::fs::read_to_string(&readme_path) {
        Err(_) => problem(&readme_path, "missing".into()),
        Ok(readme) => {
            let headings: Vec<String> = readme
                .lines()
                .filter(|l| l.starts_with('#') && !l.starts_with("#!") && !l.starts_with("# "))
                .map(str::to_lowercase)
                .collect();
            for s in README_SECTIONS {
                if !headings.iter().any(|h| h.contains(s)) {
                    problem(
                        &readme_path,
                        format!("no section heading containing {s:?} (see docs/new-crate.md)"),
                    );
                }
            }
        }
    }
    let lib = dir.join("src/lib.rs");
    if lib.is_file() && !read(&lib)?.contains("#![doc = include_str!(\"../README.md\")]") {
        problem(
            &lib,
            "the crate docs should be its README: `#![doc = include_str!(\"../README.md\")]`"
                .into(),
        );
    }
    Ok(())
}

fn check_registry(root: &Path, out: &mut Vec<Problem>) -> anyhow::Result<()> {
    for e in EVALS {
        let mut found = false;
        for entry in std::fs::read_dir(root.join("crates"))? {
            let dir = entry?.path();
            let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            if package_name(&manifest).as_deref() == Some(e.package)
                && dir.join(format!("src/bin/{}.rs", e.bin)).is_file()
            {
                found = true;
            }
        }
        if !found {
            out.push(Problem {
                path: PathBuf::from("xtask/src/evals.rs"),
                message: format!(
                    "eval {:?} names {} --bin {}, which does not exist",
                    e.name, e.package, e.bin
                ),
            });
        }
    }
    Ok(())
}

/// Markdown and figure files, skipping build output, tests and fonts.
fn walk(dir: &Path, md: &mut Vec<PathBuf>, figs: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "tests" | "assets" | "ember-out" | "node_modules"
            ) && !name.starts_with('.')
            {
                walk(&p, md, figs)?;
            }
        } else if ft.is_file() {
            match p.extension().and_then(|e| e.to_str()) {
                Some("md") => md.push(p),
                Some("png" | "svg") => figs.push(p),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Image targets of `![alt](target)` and `<img src="target">` in a markdown text.
fn image_links(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for part in text.split("](").skip(1) {
        if let Some(end) = part.find(')') {
            let t = part[..end].split_whitespace().next().unwrap_or("");
            if t.ends_with(".png") || t.ends_with(".svg") {
                v.push(t.to_string());
            }
        }
    }
    for part in text.split("src=\"").skip(1) {
        if let Some(end) = part.find('"') {
            v.push(part[..end].to_string());
        }
    }
    v.retain(|t| !t.starts_with("http://") && !t.starts_with("https://"));
    v
}

fn check_figures(root: &Path, out: &mut Vec<Problem>) -> anyhow::Result<()> {
    let (mut md, mut figs) = (Vec::new(), Vec::new());
    walk(root, &mut md, &mut figs)?;
    let mut referenced = BTreeSet::new();
    for m in &md {
        let text = read(m)?;
        let base = m.parent().unwrap_or(root);
        for link in image_links(&text) {
            let target = base.join(&link);
            match target.canonicalize() {
                Ok(t) => {
                    referenced.insert(t);
                }
                Err(_) => out.push(Problem {
                    path: rel(root, m),
                    message: format!("links to {link}, which does not exist"),
                }),
            }
        }
    }
    for f in figs {
        let canon = f.canonicalize()?;
        if !referenced.contains(&canon) {
            out.push(Problem {
                path: rel(root, &f),
                message: "committed figure that no markdown file shows (link it or delete it)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Marks a line whose arithmetic on a `seed` is a hash over data, not a seed derivation.
pub const HASH_MARKER: &str = "// tidy: hash";

/// Every `.rs` file under `crates/*/src` except `ember-core`'s `seed.rs` (the one place that
/// mixes seeds), checked by [`seed_arithmetic`].
fn check_seeds(root: &Path, out: &mut Vec<Problem>) -> anyhow::Result<()> {
    let crates = root.join("crates");
    if !crates.is_dir() {
        return Ok(());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates)? {
        let src = entry?.path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files)?;
        }
    }
    let exempt = crates.join("core/src/seed.rs");
    for f in files.iter().filter(|f| **f != exempt) {
        for (line, what) in seed_arithmetic(&read(f)?) {
            out.push(Problem {
                path: rel(root, f),
                message: format!(
                    "line {line}: arithmetic on a seed ({what}); derive it with \
                     ember_core::seed::Seed::derive/index (or mark a data hash `{HASH_MARKER}`)"
                ),
            });
        }
    }
    Ok(())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            rust_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// The code of a line: string and char literal contents blanked, `//` comments cut.
fn code_of(line: &str) -> String {
    let mut code = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    code.push('"');
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                code.push('"');
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => code.push(c),
        }
    }
    code
}

/// Whether `ident` names a seed: contains `seed`, is not a CamelCase type (`SeedableRng`)
/// and is not a count of seeds (`seeds`, `n_seeds`).
fn is_seed_ident(ident: &str) -> bool {
    let lower = ident.to_ascii_lowercase();
    let camel = ident.starts_with(|c: char| c.is_ascii_uppercase())
        && ident.chars().any(|c| c.is_ascii_lowercase());
    lower.contains("seed") && !camel && !lower.ends_with("seeds")
}

/// `(line number, the offending text)` for each place in `source` where a seed meets `*`, `+`,
/// `^` or `.wrapping_*` (either side of the operator). Lines starting with `.` continue the
/// previous line; `#[cfg(test)]` modules and lines carrying [`HASH_MARKER`] (or following it
/// on a comment line of its own) are skipped.
pub fn seed_arithmetic(source: &str) -> Vec<(usize, String)> {
    // Logical lines: (first line number, code), continuation lines (`.method`) joined.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut skip_until: Option<String> = None;
    let mut cfg_test = false;
    let mut hash_next = false;
    for (i, raw) in source.lines().enumerate() {
        if let Some(end) = &skip_until {
            if raw.trim_end() == end {
                skip_until = None;
            }
            continue;
        }
        let t = raw.trim();
        if cfg_test && t.starts_with("mod ") && t.ends_with('{') {
            let indent = &raw[..raw.len() - raw.trim_start().len()];
            skip_until = Some(format!("{indent}}}"));
            cfg_test = false;
            continue;
        }
        cfg_test = t == "#[cfg(test)]";
        if raw.contains(HASH_MARKER) || std::mem::take(&mut hash_next) {
            // A marker on a comment line of its own covers the next line.
            hash_next = t.starts_with(HASH_MARKER);
            logical.push((i + 1, String::new()));
            continue;
        }
        let code = code_of(raw);
        match logical.last_mut() {
            Some((_, prev)) if code.trim_start().starts_with('.') && !prev.is_empty() => {
                prev.push_str(code.trim())
            }
            _ => logical.push((i + 1, code)),
        }
    }
    let mut hits = Vec::new();
    for (line, code) in logical {
        let b = code.as_bytes();
        let is_id = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut i = 0;
        while i < b.len() {
            if !is_id(b[i]) || (i > 0 && is_id(b[i - 1])) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_id(b[i]) {
                i += 1;
            }
            let ident = &code[start..i];
            if !is_seed_ident(ident) {
                continue;
            }
            // After: `()`, ` as u64`, `)` of a cast, whitespace; then the operator.
            let mut j = i;
            let rest = |j: usize| &code[j..];
            if rest(j).starts_with("()") {
                j += 2;
            }
            for skip in [" as u64", ")"] {
                if rest(j).starts_with(skip) {
                    j += skip.len();
                }
            }
            let after = rest(j).trim_start();
            let op_after = after.starts_with(['*', '+', '^'])
                && !after.starts_with("*=") // a deref assignment target is not a seed
                || after.starts_with(".wrapping_");
            // Before: a binary `*`, `+` or `^` whose left operand ends in a name, a digit or `)`.
            let before = code[..start].trim_end();
            let op_before = before.ends_with(['*', '+', '^'])
                && before[..before.len() - 1]
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ')');
            if op_after || op_before {
                hits.push((line, code.trim().to_string()));
                break;
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_arithmetic_is_flagged() {
        for bad in [
            "let s = seed * 10 + 1;",
            "ad.seed(ctx.seed + 100);",
            "let s = run.seed() ^ 0xabc;",
            "f(seed.wrapping_add(11));",
            "let s = (i as u64) + seed;",
            "let s = base_seed as u64 + 4;",
            "x(\n    self.seed\n        .wrapping_mul(0x9E37)\n        .wrapping_add(step),\n);",
        ] {
            assert_eq!(seed_arithmetic(bad).len(), 1, "{bad:?} not flagged");
        }
        for good in [
            "let s = Seed::new(seed).derive(\"data\").index(i as u64);",
            "ad.seed(seed);",
            "let rng = ChaCha8Rng::seed_from_u64(seed);",
            "fn f<R: SeedableRng + Clone>() {}",
            "let n = plan.seeds * 2;",
            "g(*seed);",
            "// seed * 10 + 1 in a comment",
            "println!(\"seed + 1\");",
            "let h = seed ^ splitmix(tag); // tidy: hash",
            "// tidy: hash of the request\nlet h = seed ^ splitmix(tag);",
            "#[cfg(test)]\nmod tests {\n    fn t() { let s = seed * 3; }\n}",
        ] {
            assert!(seed_arithmetic(good).is_empty(), "{good:?} flagged");
        }
        let lines = seed_arithmetic("fn a() {}\n\nfn b() { let s = seed ^ 1; }\n");
        assert_eq!(lines[0].0, 3);
    }

    #[test]
    fn this_workspace_is_tidy() {
        let root = crate::eval::project_root();
        let problems = check(&root).unwrap();
        assert!(
            problems.is_empty(),
            "cargo xtask tidy:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn a_broken_crate_is_reported() {
        let root = std::env::temp_dir().join(format!("ember-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let c = root.join("crates/newpaper");
        std::fs::create_dir_all(c.join("src/bin")).unwrap();
        std::fs::create_dir_all(root.join("xtask")).unwrap();
        std::fs::write(
            root.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        std::fs::write(
            c.join("Cargo.toml"),
            "[package]\nname = \"ember-newpaper\"\n\n[features]\ndefault = [\"flex\"]\nflex = [\"ember-core/flex\"]\n",
        )
        .unwrap();
        std::fs::write(
            c.join("src/bin/eval-newpaper.rs"),
            "fn main() {}\n".repeat(MAX_EVAL_BIN_LINES + 1),
        )
        .unwrap();
        std::fs::write(c.join("src/lib.rs"), "//! no readme\n").unwrap();
        std::fs::write(
            c.join("README.md"),
            "# ember-newpaper\n\n## Equations\n\n![plot](figures/missing.png)\n",
        )
        .unwrap();
        std::fs::create_dir_all(c.join("figures")).unwrap();
        std::fs::write(c.join("figures/orphan.png"), b"png").unwrap();
        let msgs: Vec<String> = check(&root)
            .unwrap()
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        let all = msgs.join("\n");
        for want in [
            "crates/newpaper/Cargo.toml: missing `[lints] workspace = true`",
            "`ndarray=[\"ember-core/ndarray\"]` missing",
            "`wgpu=[\"ember-core/wgpu\"]` missing",
            "no tests/parity.rs",
            "eval-newpaper.rs: eval binary not registered",
            "no `eval` feature enabling ember-core/eval",
            "no src/experiment.rs",
            "eval-newpaper.rs: 151 lines",
            "[[bin]] eval-newpaper lacks `required-features",
            "no section heading containing \"how it is checked\"",
            "no section heading containing \"limitations\"",
            "include_str!",
            "links to figures/missing.png, which does not exist",
            "figures/orphan.png: committed figure that no markdown file shows",
        ] {
            assert!(all.contains(want), "{want:?} not in:\n{all}");
        }
        // xtask itself is fine; the registry's evals all point outside this tree.
        assert!(!all.contains("xtask/Cargo.toml"), "{all}");
        assert!(all.contains("xtask/src/evals.rs: eval \"core\""), "{all}");
    }
}

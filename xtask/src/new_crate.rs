//! `cargo xtask new-crate NAME`: lay out a paper crate in the shape `docs/new-crate.md`
//! describes and `cargo xtask tidy` checks, so a new crate starts from what the others follow.

use std::path::Path;

use anyhow::{Context, bail};

/// Files of the skeleton, relative to `crates/<name>/`, with `{name}`, `{pkg}`, `{snake}` and
/// `{Camel}` substituted.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("new_crate/Cargo.toml.in")),
    ("README.md", include_str!("new_crate/README.md.in")),
    ("src/lib.rs", include_str!("new_crate/lib.rs.in")),
    (
        "src/experiment.rs",
        include_str!("new_crate/experiment.rs.in"),
    ),
    (
        "src/bin/eval-{name}.rs",
        include_str!("new_crate/eval.rs.in"),
    ),
    ("tests/parity.rs", include_str!("new_crate/parity.rs.in")),
    (
        "tests/eval_{snake}.rs",
        include_str!("new_crate/eval_test.rs.in"),
    ),
];

/// A crate name ember accepts: lower-case ASCII words joined by `-`.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.split('-').all(|w| {
            !w.is_empty()
                && w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !ok {
        bail!("crate name {name:?}: use lower-case words joined by '-', e.g. spatial-audio");
    }
    Ok(())
}

fn fill(template: &str, name: &str) -> String {
    let snake = name.replace('-', "_");
    let camel: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    template
        .replace("{name}", name)
        .replace("{pkg}", &format!("ember-{name}"))
        .replace("{snake}", &snake)
        .replace("{Camel}", &camel)
}

/// Writes the skeleton of `crates/<name>` under `root`; refuses to overwrite anything.
/// Returns the files written, relative to `root`.
pub fn create(root: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    check_name(name)?;
    let dir = root.join("crates").join(name);
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let mut written = Vec::new();
    for (path, template) in FILES {
        let rel = fill(path, name);
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))
            .with_context(|| format!("cannot create the folder of {}", path.display()))?;
        std::fs::write(&path, fill(template, name))
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(format!("crates/{name}/{rel}"));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["reward", "spatial-audio", "lang-experts", "p2x"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Reward", "spatial_audio", "-x", "x-", "2x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_skeleton_passes_tidy_once_registered() {
        let root = std::env::temp_dir().join(format!("ember-new-crate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("xtask")).unwrap();
        std::fs::write(
            root.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        let files = create(&root, "field-notes").unwrap();
        assert!(files.contains(&"crates/field-notes/src/bin/eval-field-notes.rs".to_string()));
        assert!(create(&root, "field-notes").is_err(), "never overwrites");
        let exp =
            std::fs::read_to_string(root.join("crates/field-notes/src/experiment.rs")).unwrap();
        assert!(exp.contains("pub struct FieldNotesPlan"), "{exp}");
        let problems: Vec<String> = crate::tidy::check(&root)
            .unwrap()
            .into_iter()
            .map(|p| p.to_string())
            .filter(|p| p.contains("crates/field-notes"))
            .collect();
        // A name no eval registers (the real crates are all in `EVALS`). The only problem
        // left is the registration in xtask/src/evals.rs (one line to add).
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("not registered"), "{problems:#?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

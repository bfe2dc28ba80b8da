//! `cargo xtask prune`: delete build outputs that the current build no longer uses.
//!
//! Cargo never deletes a unit's old outputs: every change of features or dependencies leaves
//! a new `<name>-<hash>` beside the old ones, and ember's test and eval binaries (wgpu linked
//! in) are about 130 MB each, about 50 of them per build. A persistent target directory (a
//! developer's, or CI's warm cache) grows by gigabytes a week until the disk is full, which is
//! how a CI run once failed with "No space left on device" before compiling anything.
//!
//! Two modes:
//! * exact (default): ask cargo which files the README's test build consists of (a no-op
//!   `cargo test --workspace --release --features <F> --no-run --message-format=json` when
//!   that build is fresh) and delete every other hash-named file in `<target>/release/deps`;
//! * `--executables`: delete every hash-named executable there without asking cargo, for a
//!   disk too full to build on. The next build relinks the test binaries it needs; the
//!   compiled libraries (the Burn stack) stay.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::eval;

/// The 16 hex digits of cargo's unit hash in an output's file name (`eval_abx-0123…cdef`,
/// `libburn-0123…cdef.rlib`, `burn-0123…cdef.d`), or `None` for a file cargo did not name so.
pub fn unit_hash(file_name: &str) -> Option<&str> {
    let stem = file_name.split('.').next()?;
    let (_, hash) = stem.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// The unit hashes of every file a `--message-format=json` build reported (one JSON object
/// per line; only `compiler-artifact` lines name files).
pub fn hashes_in_build_messages(messages: impl BufRead) -> anyhow::Result<HashSet<String>> {
    let mut kept = HashSet::new();
    for line in messages.lines() {
        let line = line.context("cannot read cargo's messages")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue; // cargo prints only JSON here, but a stray line must not delete anything
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let files = msg["filenames"].as_array().into_iter().flatten();
        let exe = std::iter::once(&msg["executable"]);
        for f in files.chain(exe).filter_map(|f| f.as_str()) {
            let name = Path::new(f)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            if let Some(h) = unit_hash(name) {
                kept.insert(h.to_string());
            }
        }
    }
    Ok(kept)
}

/// What to delete in `deps`: hash-named files whose hash `keep` rejects. Directories and files
/// cargo did not name are never touched.
pub fn stale_files(
    deps: &Path,
    keep: impl Fn(&Path, &str) -> bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    let entries = match fs::read_dir(deps) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(stale),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", deps.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", deps.display()))?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let Some(hash) = entry
            .file_name()
            .to_str()
            .and_then(|n| unit_hash(n).map(str::to_owned))
        else {
            continue;
        };
        if !keep(&path, &hash) {
            stale.push(path);
        }
    }
    stale.sort();
    Ok(stale)
}

/// Whether `path` is a linked program (an executable without an extension), as opposed to a
/// library, dep-info or metadata file.
fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.extension().is_none()
            && fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.extension().is_some_and(|e| e == "exe")
    }
}

/// Runs `cargo xtask prune`. `features`: those of the build to keep (the README's test build
/// by default); `executables_only`: the `--executables` mode; `dry_run`: list, delete nothing.
pub fn run(features: &str, executables_only: bool, dry_run: bool) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let deps = eval::target_dir(&cargo)?.join("release").join("deps");
    let stale = if executables_only {
        stale_files(&deps, |path, _| !is_executable(path))?
    } else {
        let mut args = eval::build_args(features);
        args.push(OsString::from("--message-format=json"));
        eprintln!(
            "==> asking cargo which outputs the current build uses (cargo {})",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = Command::new(&cargo)
            .args(&args)
            .current_dir(eval::project_root())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo")?;
        anyhow::ensure!(
            out.status.success(),
            "the build failed ({}); nothing deleted",
            out.status
        );
        let kept = hashes_in_build_messages(out.stdout.as_slice())?;
        anyhow::ensure!(
            !kept.is_empty(),
            "cargo reported no outputs; nothing deleted"
        );
        stale_files(&deps, |_, hash| kept.contains(hash))?
    };
    let mut bytes = 0u64;
    for path in &stale {
        bytes += fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if dry_run {
            println!("would delete {}", path.display());
        } else {
            fs::remove_file(path).with_context(|| format!("cannot delete {}", path.display()))?;
        }
    }
    eprintln!(
        "prune: {} {} file(s), {:.1} GB, in {}",
        if dry_run { "would delete" } else { "deleted" },
        stale.len(),
        bytes as f64 / 1e9,
        deps.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_hash_reads_cargo_names() {
        assert_eq!(
            unit_hash("eval_abx-0123456789abcdef"),
            Some("0123456789abcdef")
        );
        assert_eq!(
            unit_hash("libburn_core-f035461324201cd5.rlib"),
            Some("f035461324201cd5")
        );
        assert_eq!(
            unit_hash("burn_core-f035461324201cd5.d"),
            Some("f035461324201cd5")
        );
        assert_eq!(
            unit_hash("libserde_derive-0123456789abcdef.so"),
            Some("0123456789abcdef")
        );
        assert_eq!(unit_hash("rmetaT7sb3E"), None);
        assert_eq!(unit_hash("eval-abx"), None);
        assert_eq!(unit_hash("x-0123456789abcdeg"), None);
        assert_eq!(unit_hash("x-0123456789abcde"), None);
    }

    #[test]
    fn build_messages_name_the_kept_units() {
        let messages = br#"{"reason":"compiler-artifact","filenames":["/t/release/deps/libfoo-00000000000000aa.rlib","/t/release/deps/libfoo-00000000000000aa.rmeta"],"executable":null}
not json at all
{"reason":"compiler-artifact","filenames":["/t/release/deps/parity-00000000000000bb"],"executable":"/t/release/deps/parity-00000000000000bb"}
{"reason":"build-script-executed","filenames":["/t/release/deps/x-00000000000000cc"]}
{"reason":"build-finished","success":true}
"#;
        let kept = hashes_in_build_messages(&messages[..]).unwrap();
        let mut kept: Vec<_> = kept.into_iter().collect();
        kept.sort();
        assert_eq!(kept, ["00000000000000aa", "00000000000000bb"]);
    }

    #[test]
    #[cfg(unix)]
    fn stale_files_spares_what_cargo_did_not_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ember-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub-00000000000000dd")).unwrap();
        for name in [
            "parity-00000000000000aa",
            "parity-00000000000000bb",
            "parity-00000000000000bb.d",
            "libfoo-00000000000000bb.rlib",
            "notes.txt",
        ] {
            fs::write(dir.join(name), b"x").unwrap();
        }
        for exe in ["parity-00000000000000aa", "parity-00000000000000bb"] {
            fs::set_permissions(dir.join(exe), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        // exact mode: only unit bb is in the build
        let stale = stale_files(&dir, |_, h| h == "00000000000000bb").unwrap();
        assert_eq!(names(stale), ["parity-00000000000000aa"]);
        // --executables mode: every linked program, no library or dep-info file
        let stale = stale_files(&dir, |p, _| !is_executable(p)).unwrap();
        assert_eq!(
            names(stale),
            ["parity-00000000000000aa", "parity-00000000000000bb"]
        );
        // a missing deps folder is an empty one
        assert!(
            stale_files(&dir.join("absent"), |_, _| false)
                .unwrap()
                .is_empty()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

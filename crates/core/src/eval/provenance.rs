//! What a report records so that its numbers can be traced to a run.

use crate::report::Provenance;
use std::path::Path;
use std::process::Command;

/// The Burn release ember is built on (the workspace pins it; a test checks `Cargo.lock`).
pub const BURN_VERSION: &str = "0.22.1";

/// Commit and dirtiness of the git checkout around `dir`, versions, rayon's thread count and
/// the command line. Git facts are `None` outside a checkout or without `git`.
pub fn collect(dir: &Path) -> Provenance {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let git_commit = git(&["rev-parse", "HEAD"]);
    // Tracked files only: eval outputs written inside the checkout do not make it dirty.
    let git_dirty = git_commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    let versions = [
        ("ember".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("burn".to_string(), BURN_VERSION.to_string()),
    ]
    .into_iter()
    .collect();
    Provenance {
        git_commit,
        git_dirty,
        versions,
        threads: rayon::current_num_threads(),
        command: std::env::args().collect(),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_version_matches_the_lock_file() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("workspace Cargo.lock");
        let needle = format!("name = \"burn\"\nversion = \"{BURN_VERSION}\"");
        assert!(
            lock.contains(&needle),
            "Cargo.lock pins another burn than {BURN_VERSION}"
        );
    }

    #[test]
    fn records_this_checkout() {
        let p = collect(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(p.threads >= 1);
        assert_eq!(p.versions["burn"], BURN_VERSION);
        if let Some(c) = &p.git_commit {
            assert_eq!(c.len(), 40, "a full commit hash: {c}");
            assert!(p.git_dirty.is_some());
        }
    }
}

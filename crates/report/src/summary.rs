//! The cross-eval summary written by `cargo xtask eval`: `summary.json` + `REPORT.md`.

use std::fmt::Display;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{create_dir, write_atomic};
use crate::report::{baseline_text, fmt_duration, md_cell, tick};
use crate::{Error, Report, Result, fmt_num};

/// Whether an eval built, ran and left a valid report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// The eval ran to completion and its report loaded.
    Ok,
    /// The eval failed to build or run, or left no valid report; see [`RunRecord::error`].
    Failed,
}

impl RunStatus {
    /// The lowercase name used in JSON and `REPORT.md`: `"ok"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
        }
    }
}

/// One eval run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// The eval's name, e.g. `"abx"`.
    pub eval: String,
    /// Whether the run succeeded.
    pub status: RunStatus,
    /// Wall-clock seconds of the run as timed by the caller.
    pub elapsed_s: f64,
    /// The eval's report directory, relative to the summary directory (`"<eval>"`).
    pub report_dir: String,
    /// Why the run failed (the error's `Display` text); `None` for successful runs.
    pub error: Option<String>,
}

/// One claim of one eval, flattened for the cross-eval table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimRow {
    /// The eval that reported the claim.
    pub eval: String,
    /// The eval report's paper id ([`Report::paper`]).
    pub paper: String,
    /// The claim's id within its report ([`Claim::id`](crate::Claim::id)), e.g. `"C1"`.
    pub claim_id: String,
    /// The paper's statement.
    pub statement: String,
    /// What was measured, and how.
    pub metric: String,
    /// Our measured value of `metric`.
    pub ours: f64,
    /// The value compared against, if any.
    pub baseline: Option<f64>,
    /// What `baseline` is, e.g. `"paper"`.
    #[serde(default)]
    pub baseline_label: Option<String>,
    /// Whether the claim holds, as decided by the eval.
    pub holds: bool,
}

/// All runs of one `cargo xtask eval` invocation and all their claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// One record per eval, in run order.
    pub runs: Vec<RunRecord>,
    /// The claims of all successful runs, in run order.
    pub claims: Vec<ClaimRow>,
    /// Total wall-clock seconds: the sum of the runs as built by [`Summary::build`], or
    /// whatever the caller set instead.
    pub total_elapsed_s: f64,
    /// Backend / device the evals ran on, e.g. `"flex"`.
    pub device: String,
    /// `"quick"` or `"full"`.
    pub scale: String,
}

impl Summary {
    /// Builds a summary from `(eval name, report or error, elapsed seconds)` in run order.
    /// Each eval's report directory is taken to be `<eval>` next to the summary.
    /// `total_elapsed_s` is the sum of the runs; overwrite it with the wall-clock total if
    /// that is what you want to show.
    pub fn build<E: Display>(
        device: impl Into<String>,
        scale: impl Into<String>,
        runs: impl IntoIterator<Item = (String, Result<Report, E>, f64)>,
    ) -> Self {
        let mut summary = Summary {
            runs: Vec::new(),
            claims: Vec::new(),
            total_elapsed_s: 0.0,
            device: device.into(),
            scale: scale.into(),
        };
        for (eval, result, elapsed_s) in runs {
            summary.total_elapsed_s += elapsed_s;
            let (status, error) = match result {
                Ok(report) => {
                    summary
                        .claims
                        .extend(report.claims.iter().map(|c| ClaimRow {
                            eval: eval.clone(),
                            paper: report.paper.clone(),
                            claim_id: c.id.clone(),
                            statement: c.statement.clone(),
                            metric: c.metric.clone(),
                            ours: c.ours,
                            baseline: c.baseline,
                            baseline_label: c.baseline_label.clone(),
                            holds: c.holds,
                        }));
                    (RunStatus::Ok, None)
                }
                Err(e) => (RunStatus::Failed, Some(e.to_string())),
            };
            summary.runs.push(RunRecord {
                report_dir: eval.clone(),
                eval,
                status,
                elapsed_s,
                error,
            });
        }
        summary
    }

    /// Runs that failed.
    pub fn failed(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| r.status == RunStatus::Failed)
    }

    /// True when every run succeeded (claims that do not hold do not count as failures).
    pub fn all_ok(&self) -> bool {
        self.failed().next().is_none()
    }

    /// Writes `dir/summary.json` and `dir/REPORT.md` (both atomically); returns the path of
    /// `REPORT.md`.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        create_dir(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(Error::Serialize)?;
        write_atomic(&dir.join("summary.json"), json.as_bytes())?;
        let md_path = dir.join("REPORT.md");
        write_atomic(&md_path, self.to_markdown().as_bytes())?;
        Ok(md_path)
    }

    /// Loads `summary.json` (a path to it, or the directory holding it).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path.push("summary.json");
        }
        let json = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing { path });
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_str(&json).map_err(|cause| Error::Corrupt { path, cause })
    }

    /// `REPORT.md`: one row per claim, then the runs with time, status and report links.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# ember eval summary\n\n");
        let ok = self.runs.len() - self.failed().count();
        let holding = self.claims.iter().filter(|c| c.holds).count();
        let _ = writeln!(
            out,
            "device `{}` · scale `{}` · {} · {}/{} evals ok · {}/{} claims hold\n",
            self.device,
            self.scale,
            fmt_duration(self.total_elapsed_s),
            ok,
            self.runs.len(),
            holding,
            self.claims.len()
        );
        out.push_str("## Claims\n\n");
        if self.claims.is_empty() {
            out.push_str("No claims were reported.\n\n");
        } else {
            out.push_str(
                "| paper | claim | metric | ours | baseline | holds |\n|---|---|---|---|---|---|\n",
            );
            for c in &self.claims {
                let _ = writeln!(
                    out,
                    "| {} | **{}** {} | {} | {} | {} | {} |",
                    md_cell(&c.paper),
                    md_cell(&c.claim_id),
                    md_cell(&c.statement),
                    md_cell(&c.metric),
                    fmt_num(c.ours),
                    md_cell(&baseline_text(c.baseline, c.baseline_label.as_deref())),
                    tick(c.holds)
                );
            }
            out.push('\n');
        }
        out.push_str(
            "## Runs\n\n| eval | status | time | report | error |\n|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            let link = match r.status {
                RunStatus::Ok => format!("[report.md]({}/report.md)", r.report_dir),
                RunStatus::Failed => "–".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_cell(&r.eval),
                r.status.as_str(),
                fmt_duration(r.elapsed_s),
                link,
                md_cell(r.error.as_deref().unwrap_or(""))
            );
        }
        out
    }

    /// A plain-text claims table for terminals (statements cut to 60 characters), followed by
    /// one line per failed run.
    pub fn to_text(&self) -> String {
        let header = ["eval", "claim", "statement", "ours", "baseline", "holds"];
        let rows: Vec<[String; 6]> = self
            .claims
            .iter()
            .map(|c| {
                [
                    c.eval.clone(),
                    c.claim_id.clone(),
                    truncate(&c.statement, 60),
                    fmt_num(c.ours),
                    baseline_text(c.baseline, c.baseline_label.as_deref()),
                    tick(c.holds).to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            let _ = writeln!(out, "{}", padded.join("  ").trim_end());
        };
        if rows.is_empty() {
            out.push_str("no claims reported\n");
        } else {
            line(&mut out, &header.map(String::from));
            line(&mut out, &widths.map(|w| "-".repeat(w)));
            for row in &rows {
                line(&mut out, row);
            }
        }
        let holding = self.claims.iter().filter(|c| c.holds).count();
        let _ = writeln!(
            out,
            "\n{}/{} claims hold; {}/{} evals ok; {}",
            holding,
            self.claims.len(),
            self.runs.len() - self.failed().count(),
            self.runs.len(),
            fmt_duration(self.total_elapsed_s)
        );
        for r in self.failed() {
            let _ = writeln!(
                out,
                "FAILED {}: {}",
                r.eval,
                r.error.as_deref().unwrap_or("unknown error")
            );
        }
        out
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

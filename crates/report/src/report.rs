//! The [`Report`] an eval returns, its parts, and its JSON / markdown forms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::fsutil::{create_dir, write_atomic};
use crate::{Error, Result};

/// Version of the `report.json` layout. Bumped on incompatible changes; [`Report::load`]
/// refuses files with a newer version.
pub const SCHEMA_VERSION: u32 = 1;

/// One eval's results: what the paper claims, what we measured, and supporting material.
///
/// Non-finite numbers (NaN, ±inf) are written to JSON as `null` and read back as NaN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Layout version the report was written with; [`Report::new`] sets [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Short eval name, e.g. `"abx"`; also the report's directory name under the xtask output.
    pub eval: String,
    /// Paper id, e.g. `"P2"`, or `"core"`.
    pub paper: String,
    /// Human-readable title; the heading of `report.md`.
    pub title: String,
    /// Backend / device the eval ran on, e.g. `"flex"`.
    #[serde(default)]
    pub device: String,
    /// `"quick"` or `"full"`.
    #[serde(default)]
    pub scale: String,
    /// RNG seed the eval ran with (0 unless set).
    #[serde(default)]
    pub seed: u64,
    /// Wall-clock seconds of the eval itself.
    #[serde(default, deserialize_with = "de_f64")]
    pub elapsed_s: f64,
    /// The paper's claims with our measurements, in the order they are rendered.
    #[serde(default)]
    pub claims: Vec<Claim>,
    /// Free-form numbers, e.g. `tokens_per_s`.
    #[serde(default, deserialize_with = "de_f64_map")]
    pub metrics: BTreeMap<String, f64>,
    /// Supporting tables, rendered under "Tables" in order.
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Figure files next to the report, linked under "Figures" in order.
    #[serde(default)]
    pub figures: Vec<Figure>,
    /// Free-form remarks (caveats, deviations from the paper), rendered as a bullet list.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Where the numbers came from: commit, versions, threads, command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The full plan (every size and hyper-parameter) the eval ran with, as JSON; feeding it
    /// back as `--config` reruns the same experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
}

/// What a figure or a number needs to be traced to its run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the working tree the eval ran in, if it was a git checkout.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// Whether that tree had uncommitted changes (`git status --porcelain` non-empty).
    #[serde(default)]
    pub git_dirty: Option<bool>,
    /// Crate name → version of the crates that produced the numbers (the eval's crate,
    /// ember-core, Burn).
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Worker threads of the CPU backends (rayon's pool).
    #[serde(default)]
    pub threads: usize,
    /// The command line, program name first.
    #[serde(default)]
    pub command: Vec<String>,
    /// Start of the run, seconds since the Unix epoch.
    #[serde(default)]
    pub started_unix_s: u64,
}

/// A paper's claim next to our measurement. `holds` is decided by the eval, never here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// Short id, e.g. `"C1"`.
    pub id: String,
    /// The paper's statement.
    pub statement: String,
    /// What we measured, and how.
    pub metric: String,
    /// Our value of `metric`.
    #[serde(deserialize_with = "de_f64")]
    pub ours: f64,
    /// The value we compare against (paper number, baseline model, chance level, ...).
    #[serde(default)]
    pub baseline: Option<f64>,
    /// What `baseline` is, e.g. `"paper"` or `"unigram entropy"`.
    #[serde(default)]
    pub baseline_label: Option<String>,
    /// Whether the claim holds in our reproduction, as decided by the eval.
    pub holds: bool,
    /// Free-form explanation: the test used, margins, caveats.
    #[serde(default)]
    pub detail: String,
}

/// A table cell: a number or a piece of text. Build with `From` or the [`row!`](crate::row)
/// macro. A NaN number is written as JSON `null` and reads back as [`Cell::Empty`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Cell {
    /// A number, rendered with [`fmt_num`].
    Num(f64),
    /// Text, rendered as is (markdown-escaped in tables).
    Text(String),
    /// No value; rendered as `–`.
    Empty,
}

/// A titled table of cells.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    /// Heading shown above the table in `report.md`.
    pub title: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// The rows; rows shorter than the widest row or header are padded with blank cells when
    /// rendered.
    pub rows: Vec<Vec<Cell>>,
}

/// A figure file written next to the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    /// Title, used as the image's alt text in `report.md`.
    pub title: String,
    /// Path relative to the report directory, e.g. `"loss.png"`.
    pub file: String,
    /// Text shown in italics under the image; may be empty.
    #[serde(default)]
    pub caption: String,
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn de_f64_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

macro_rules! cell_from_num {
    ($($t:ty),*) => {$(
        impl From<$t> for Cell {
            fn from(v: $t) -> Self {
                Cell::Num(v as f64)
            }
        }
    )*};
}
cell_from_num!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<&String> for Cell {
    fn from(v: &String) -> Self {
        Cell::Text(v.clone())
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Cell::Text(if v { "✓" } else { "✗" }.to_owned())
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Num(v) => f.write_str(&fmt_num(*v)),
            Cell::Text(s) => f.write_str(s),
            Cell::Empty => f.write_str("–"),
        }
    }
}

/// Formats a number for humans: integers without decimals, 4 significant digits otherwise,
/// scientific notation for very large or small magnitudes, `NaN`/`inf` spelled out.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if v == v.trunc() && a < 1e15 {
        return format!("{v:.0}");
    }
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

impl Claim {
    /// A claim with our measurement; `holds` must be computed by the caller.
    pub fn new(
        id: impl Into<String>,
        statement: impl Into<String>,
        metric: impl Into<String>,
        ours: f64,
        holds: bool,
    ) -> Self {
        Claim {
            id: id.into(),
            statement: statement.into(),
            metric: metric.into(),
            ours,
            baseline: None,
            baseline_label: None,
            holds,
            detail: String::new(),
        }
    }

    /// Sets the value compared against and what it is.
    pub fn baseline(mut self, value: f64, label: impl Into<String>) -> Self {
        self.baseline = Some(value);
        self.baseline_label = Some(label.into());
        self
    }

    /// Sets the free-form detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The baseline as rendered in tables: `value (label)`, or `–`.
    pub fn baseline_text(&self) -> String {
        baseline_text(self.baseline, self.baseline_label.as_deref())
    }
}

pub(crate) fn baseline_text(value: Option<f64>, label: Option<&str>) -> String {
    match (value, label) {
        (Some(v), Some(l)) if !l.is_empty() => format!("{} ({l})", fmt_num(v)),
        (Some(v), _) => fmt_num(v),
        (None, Some(l)) if !l.is_empty() => l.to_owned(),
        (None, _) => "–".to_owned(),
    }
}

pub(crate) fn tick(holds: bool) -> &'static str {
    if holds { "✓" } else { "✗" }
}

/// Escapes text for a markdown table cell.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Formats seconds as `12.3 s`, `4m 05s` or `1h 02m`.
pub(crate) fn fmt_duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

impl Table {
    /// An empty table with the given columns.
    pub fn new<S: Into<String>>(
        title: impl Into<String>,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        Table {
            title: title.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (see [`row!`](crate::row)).
    pub fn add_row(&mut self, row: Vec<Cell>) -> &mut Self {
        self.rows.push(row);
        self
    }

    /// Builder form of [`Table::add_row`].
    pub fn row(mut self, row: Vec<Cell>) -> Self {
        self.rows.push(row);
        self
    }

    /// The table as GitHub markdown (without its title). Short rows are padded.
    pub fn to_markdown(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.columns.len()])
            .max()
            .unwrap_or(0);
        if width == 0 {
            return String::new();
        }
        let mut out = String::new();
        let header: Vec<String> = (0..width)
            .map(|i| md_cell(self.columns.get(i).map_or("", String::as_str)))
            .collect();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(width));
        for row in &self.rows {
            let cells: Vec<String> = (0..width)
                .map(|i| {
                    row.get(i)
                        .map_or(String::new(), |c| md_cell(&c.to_string()))
                })
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }
}

impl Figure {
    /// A figure stored at `file` (relative to the report directory) with a title and caption.
    pub fn new(
        title: impl Into<String>,
        file: impl Into<String>,
        caption: impl Into<String>,
    ) -> Self {
        Figure {
            title: title.into(),
            file: file.into(),
            caption: caption.into(),
        }
    }
}

impl Report {
    /// An empty report. Device, scale, seed and elapsed time default to empty / 0; set them
    /// with the `with_*` builders.
    pub fn new(
        eval: impl Into<String>,
        paper: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            eval: eval.into(),
            paper: paper.into(),
            title: title.into(),
            device: String::new(),
            scale: String::new(),
            seed: 0,
            elapsed_s: 0.0,
            claims: Vec::new(),
            metrics: BTreeMap::new(),
            tables: Vec::new(),
            figures: Vec::new(),
            notes: Vec::new(),
            provenance: None,
            plan: None,
        }
    }

    /// Builder: sets the backend / device name.
    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = device.into();
        self
    }
    /// Builder: sets the scale (`"quick"` or `"full"`).
    pub fn with_scale(mut self, scale: impl Into<String>) -> Self {
        self.scale = scale.into();
        self
    }
    /// Builder: sets the RNG seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Builder: sets the eval's wall-clock time in seconds.
    pub fn with_elapsed(mut self, elapsed_s: f64) -> Self {
        self.elapsed_s = elapsed_s;
        self
    }

    /// Builder: appends a claim.
    pub fn claim(mut self, claim: Claim) -> Self {
        self.claims.push(claim);
        self
    }
    /// Builder: sets a metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }
    /// Builder: appends a table.
    pub fn table(mut self, table: Table) -> Self {
        self.tables.push(table);
        self
    }
    /// Builder: appends a figure.
    pub fn figure(mut self, figure: Figure) -> Self {
        self.figures.push(figure);
        self
    }
    /// Builder: appends a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Appends a claim.
    pub fn add_claim(&mut self, claim: Claim) -> &mut Self {
        self.claims.push(claim);
        self
    }
    /// Sets a metric, replacing any earlier value under the same name.
    pub fn add_metric(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.metrics.insert(name.into(), value);
        self
    }
    /// Appends a table.
    pub fn add_table(&mut self, table: Table) -> &mut Self {
        self.tables.push(table);
        self
    }
    /// Appends a figure; the file itself is written separately (e.g. with [`crate::plot`]).
    pub fn add_figure(&mut self, figure: Figure) -> &mut Self {
        self.figures.push(figure);
        self
    }
    /// Appends a note.
    pub fn add_note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    /// Sets the eval's wall-clock time in seconds.
    pub fn set_elapsed(&mut self, elapsed_s: f64) -> &mut Self {
        self.elapsed_s = elapsed_s;
        self
    }

    /// Number of claims that hold.
    pub fn claims_holding(&self) -> usize {
        self.claims.iter().filter(|c| c.holds).count()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(Error::Serialize)
    }

    /// Parses a report from JSON; `path` is only used in error messages.
    pub fn from_json(json: &str, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let report: Report = serde_json::from_str(json).map_err(|cause| Error::Corrupt {
            path: path.clone(),
            cause,
        })?;
        if report.schema_version > SCHEMA_VERSION {
            return Err(Error::Schema {
                path,
                found: report.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(report)
    }

    /// Writes `dir/report.json` (atomically: `report.json.tmp`, fsync, rename) and
    /// `dir/report.md`, creating `dir`. Returns the path of `report.json`.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        create_dir(dir)?;
        let json_path = dir.join("report.json");
        write_atomic(&json_path, self.to_json()?.as_bytes())?;
        write_atomic(&dir.join("report.md"), self.to_markdown().as_bytes())?;
        Ok(json_path)
    }

    /// Loads a report from a `report.json` path, or from a directory containing one.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path.push("report.json");
        }
        let json = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing { path });
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::from_json(&json, path)
    }

    /// The report as markdown: title, run facts, claims table (with details), metrics, tables,
    /// figures (`![title](file)` + caption) and notes. Empty sections are left out.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", self.title);
        let mut facts = vec![
            format!("eval `{}`", self.eval),
            format!("paper {}", self.paper),
        ];
        if !self.device.is_empty() {
            facts.push(format!("device `{}`", self.device));
        }
        if !self.scale.is_empty() {
            facts.push(format!("scale `{}`", self.scale));
        }
        facts.push(format!("seed {}", self.seed));
        facts.push(format!("took {}", fmt_duration(self.elapsed_s)));
        let _ = writeln!(out, "{}\n", facts.join(" · "));

        if !self.claims.is_empty() {
            let _ = writeln!(
                out,
                "## Claims ({}/{} hold)\n",
                self.claims_holding(),
                self.claims.len()
            );
            out.push_str("| claim | metric | ours | baseline | holds |\n|---|---|---|---|---|\n");
            for c in &self.claims {
                let _ = writeln!(
                    out,
                    "| **{}** {} | {} | {} | {} | {} |",
                    md_cell(&c.id),
                    md_cell(&c.statement),
                    md_cell(&c.metric),
                    fmt_num(c.ours),
                    md_cell(&c.baseline_text()),
                    tick(c.holds)
                );
            }
            out.push('\n');
            let details: Vec<&Claim> = self
                .claims
                .iter()
                .filter(|c| !c.detail.is_empty())
                .collect();
            for c in &details {
                let _ = writeln!(out, "- **{}**: {}", c.id, c.detail);
            }
            if !details.is_empty() {
                out.push('\n');
            }
        }

        if !self.metrics.is_empty() {
            out.push_str("## Metrics\n\n| metric | value |\n|---|---|\n");
            for (k, v) in &self.metrics {
                let _ = writeln!(out, "| {} | {} |", md_cell(k), fmt_num(*v));
            }
            out.push('\n');
        }

        if !self.tables.is_empty() {
            out.push_str("## Tables\n\n");
            for t in &self.tables {
                let _ = writeln!(out, "### {}\n", t.title);
                out.push_str(&t.to_markdown());
                out.push('\n');
            }
        }

        if !self.figures.is_empty() {
            out.push_str("## Figures\n\n");
            for f in &self.figures {
                let _ = writeln!(out, "![{}]({})\n", f.title.replace(']', "\\]"), f.file);
                if !f.caption.is_empty() {
                    let _ = writeln!(out, "*{}*\n", f.caption);
                }
            }
        }

        if !self.notes.is_empty() {
            out.push_str("## Notes\n\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
            out.push('\n');
        }

        if let Some(p) = &self.provenance {
            out.push_str("## Provenance\n\n");
            let commit = match (&p.git_commit, p.git_dirty) {
                (Some(c), Some(true)) => format!("`{c}` (uncommitted changes)"),
                (Some(c), _) => format!("`{c}`"),
                (None, _) => "unknown (not a git checkout)".into(),
            };
            let _ = writeln!(out, "- commit: {commit}");
            let versions: Vec<String> =
                p.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if !versions.is_empty() {
                let _ = writeln!(out, "- versions: {}", versions.join(", "));
            }
            let _ = writeln!(out, "- threads: {}", p.threads);
            if !p.command.is_empty() {
                let _ = writeln!(out, "- command: `{}`", p.command.join(" "));
            }
            if self.plan.is_some() {
                out.push_str("- plan: in `report.json` (`plan`) and `plan.json`\n");
            }
            out.push('\n');
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(-12.0), "-12");
        assert_eq!(fmt_num(2.34567), "2.346");
        assert_eq!(fmt_num(0.012345), "0.01235");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(1.5e-5), "1.500e-5");
        assert_eq!(fmt_num(f64::NAN), "NaN");
        assert_eq!(fmt_num(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(3.21), "3.2 s");
        assert_eq!(fmt_duration(125.0), "2m 05s");
        assert_eq!(fmt_duration(3725.0), "1h 02m");
    }

    #[test]
    fn nan_round_trips_as_nan() {
        let r = Report::new("e", "p", "t")
            .claim(Claim::new("C1", "s", "m", f64::NAN, false))
            .metric("x", f64::INFINITY)
            .table(Table::new("t", ["a"]).row(vec![Cell::Num(f64::NAN)]));
        let back = Report::from_json(&r.to_json().unwrap(), "mem").unwrap();
        assert!(back.claims[0].ours.is_nan());
        assert!(back.metrics["x"].is_nan());
        assert_eq!(back.tables[0].rows[0][0], Cell::Empty);
    }

    #[test]
    fn markdown_cells_are_escaped() {
        let t = Table::new("t", ["a|b"]).row(vec!["x\ny".into()]);
        let md = t.to_markdown();
        assert!(md.contains("a\\|b"));
        assert!(md.contains("| x y |"));
    }
}

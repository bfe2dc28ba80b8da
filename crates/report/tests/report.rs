//! [`Report`](ember_report::Report): JSON round trip, markdown sections, atomic writes, and
//! the errors for missing, corrupt and newer-schema files.

use std::path::PathBuf;

use ember_report::{Claim, Error, Figure, Report, SCHEMA_VERSION, Table, row};

fn tmp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample() -> Report {
    let mut r = Report::new("abx", "P2", "ABX discrimination of learned units")
        .with_device("flex")
        .with_scale("quick")
        .with_seed(7)
        .with_elapsed(12.5)
        .claim(
            Claim::new(
                "C1",
                "Layer 6 beats MFCC on ABX error",
                "ABX error % (within-speaker)",
                8.25,
                true,
            )
            .baseline(14.1, "MFCC")
            .detail("mean over 3 seeds"),
        )
        .claim(Claim::new(
            "C2",
            "Error | drops with depth",
            "slope of error vs layer",
            0.3,
            false,
        ))
        .metric("tokens_per_s", 12345.678)
        .note("quick scale uses 10% of the data");
    r.add_table(Table::new("Per layer", ["layer", "error", "kind"]).row(row![1, 12.5, "conv"]));
    r.add_figure(Figure::new(
        "Error by layer",
        "error.png",
        "ABX error against layer",
    ));
    r
}

#[test]
fn json_round_trip() {
    let r = sample();
    let dir = tmp_dir("round_trip");
    let path = r.write(&dir).unwrap();
    assert_eq!(path, dir.join("report.json"));
    let back = Report::load(&path).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.schema_version, SCHEMA_VERSION);
    // Loading the directory works too.
    assert_eq!(Report::load(&dir).unwrap(), r);
}

#[test]
fn markdown_has_claim_rows_and_sections() {
    let md = sample().to_markdown();
    assert!(md.starts_with("# ABX discrimination of learned units\n"));
    assert!(md.contains("## Claims (1/2 hold)"));
    assert!(md.contains(
        "| **C1** Layer 6 beats MFCC on ABX error | ABX error % (within-speaker) | 8.250 | 14.10 (MFCC) | ✓ |"
    ));
    assert!(md.contains(
        "| **C2** Error \\| drops with depth | slope of error vs layer | 0.3000 | – | ✗ |"
    ));
    assert!(md.contains("- **C1**: mean over 3 seeds"));
    assert!(md.contains("| tokens_per_s | 12346 |"));
    assert!(md.contains("### Per layer"));
    assert!(md.contains("| 1 | 12.50 | conv |"));
    assert!(md.contains("![Error by layer](error.png)"));
    assert!(md.contains("*ABX error against layer*"));
    assert!(md.contains("- quick scale uses 10% of the data"));
}

#[test]
fn write_is_atomic_and_leaves_no_tmp() {
    let dir = tmp_dir("atomic");
    let r = sample();
    r.write(&dir).unwrap();
    r.write(&dir).unwrap(); // overwrite in place
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["report.json", "report.md"]);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert_eq!(md, r.to_markdown());
}

#[test]
fn write_creates_nested_dirs() {
    let dir = tmp_dir("nested").join("a/b");
    sample().write(&dir).unwrap();
    assert!(dir.join("report.json").is_file());
}

#[test]
fn corrupt_json_is_an_error() {
    let dir = tmp_dir("corrupt");
    let path = dir.join("report.json");
    std::fs::write(&path, "{ \"eval\": \"abx\", ").unwrap();
    let err = Report::load(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupt report"), "{err}");

    std::fs::write(&path, "{\"eval\": 3}").unwrap();
    assert!(matches!(Report::load(&path), Err(Error::Corrupt { .. })));
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = tmp_dir("missing");
    let err = Report::load(dir.join("report.json")).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("no report at"), "{err}");
    // A directory without report.json is missing too.
    assert!(matches!(Report::load(&dir), Err(Error::Missing { .. })));
}

#[test]
fn newer_schema_is_rejected() {
    let mut r = sample();
    r.schema_version = SCHEMA_VERSION + 1;
    let json = serde_json::to_string(&r).unwrap();
    assert!(matches!(
        Report::from_json(&json, "x"),
        Err(Error::Schema { .. })
    ));
}

#[test]
fn minimal_json_uses_defaults() {
    let json = r#"{"schema_version":1,"eval":"e","paper":"p","title":"t"}"#;
    let r = Report::from_json(json, "mem").unwrap();
    assert!(r.claims.is_empty() && r.metrics.is_empty());
}

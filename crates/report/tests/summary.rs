//! [`Summary`](ember_report::Summary): flattening runs into claim rows, markdown and text rendering,
//! and the `summary.json` + `REPORT.md` round trip.

use std::path::PathBuf;

use ember_report::{Claim, Error, Report, RunStatus, Summary};

fn tmp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("summary-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build() -> Summary {
    let core = Report::new("core", "core", "Causal LM").claim(
        Claim::new("C1", "Loss beats unigram entropy", "held-out CE", 2.5, true)
            .baseline(3.25, "unigram H"),
    );
    let abx = Report::new("abx", "P2", "ABX")
        .claim(Claim::new("C1", "Layer 6 best", "ABX error %", 9.0, false).baseline(8.0, "paper"));
    Summary::build(
        "flex",
        "quick",
        vec![
            ("core".to_string(), Ok::<_, Error>(core), 10.0),
            ("abx".to_string(), Ok(abx), 20.0),
            (
                "soup".to_string(),
                Err(Error::Missing {
                    path: "out/soup/report.json".into(),
                }),
                1.5,
            ),
        ],
    )
}

#[test]
fn build_flattens_claims_and_runs() {
    let s = build();
    assert_eq!(s.claims.len(), 2);
    assert_eq!(s.claims[1].paper, "P2");
    assert_eq!(s.claims[1].eval, "abx");
    assert_eq!(s.runs.len(), 3);
    assert_eq!(s.runs[2].status, RunStatus::Failed);
    assert!(
        s.runs[2]
            .error
            .as_deref()
            .unwrap()
            .contains("out/soup/report.json")
    );
    assert_eq!(s.runs[0].report_dir, "core");
    assert_eq!(s.total_elapsed_s, 31.5);
    assert!(!s.all_ok());
}

#[test]
fn markdown_and_text() {
    let s = build();
    let md = s.to_markdown();
    assert!(md.contains(
        "| core | **C1** Loss beats unigram entropy | held-out CE | 2.500 | 3.250 (unigram H) | ✓ |"
    ));
    assert!(md.contains("| P2 | **C1** Layer 6 best | ABX error % | 9 | 8 (paper) | ✗ |"));
    assert!(md.contains("| core | ok | 10.0 s | [report.md](core/report.md) |  |"));
    assert!(md.contains("| soup | failed | 1.5 s | – |"));
    assert!(md.contains("1/2 claims hold"));
    let text = s.to_text();
    assert!(text.contains("FAILED soup"));
    assert!(text.contains("Loss beats unigram entropy"));
}

#[test]
fn write_and_load() {
    let dir = tmp_dir("write");
    let s = build();
    let md = s.write(&dir).unwrap();
    assert_eq!(md, dir.join("REPORT.md"));
    let json = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(json.contains("\"status\": \"failed\""));
    assert_eq!(Summary::load(&dir).unwrap(), s);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

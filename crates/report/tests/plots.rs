//! Each plot writes a PNG; the images land in `$CARGO_TARGET_TMPDIR/plots` for inspection.

use std::path::PathBuf;

use ember_report::Error;
use ember_report::plot::{self, BarChart, Heatmap, LinePlot, Series};

fn out(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn assert_png(path: &PathBuf) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

fn curves(log_x: bool) -> LinePlot {
    let steps: Vec<f64> = (1..=200).map(|i| (i * 10) as f64).collect();
    LinePlot {
        title: "Training loss".into(),
        x_label: "step".into(),
        y_label: "cross-entropy (nats)".into(),
        series: vec![
            Series::new(
                "train",
                steps
                    .iter()
                    .map(|&s| (s, 1.2 + 3.0 * (-s / 400.0).exp()))
                    .collect(),
            ),
            Series::new(
                "held-out",
                steps
                    .iter()
                    .map(|&s| (s, 1.4 + 3.0 * (-s / 450.0).exp() + 0.02 * (s / 50.0).sin()))
                    .collect(),
            ),
            Series::new("unigram entropy", vec![(10.0, 3.3), (2000.0, 3.3)]),
        ],
        log_x,
    }
}

#[test]
fn line_plot_writes_png() {
    let p = out("line.png");
    plot::line(&p, &curves(false)).unwrap();
    assert_png(&p);
    let p = out("line_log.png");
    plot::line(&p, &curves(true)).unwrap();
    assert_png(&p);
}

#[test]
fn line_plot_skips_nan_and_handles_single_point() {
    let p = out("line_nan.png");
    let plot = LinePlot {
        title: "With NaN".into(),
        series: vec![
            Series::new("a", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 2.0)]),
            Series::new("single", vec![(1.0, 1.5)]),
        ],
        ..Default::default()
    };
    plot::line(&p, &plot).unwrap();
    assert_png(&p);
}

#[test]
fn line_plot_rejects_empty_and_nan() {
    let p = out("line_bad.png");
    assert!(matches!(
        plot::line(&p, &LinePlot::default()),
        Err(Error::PlotData { .. })
    ));
    let empty = LinePlot {
        series: vec![Series::new("a", vec![])],
        ..Default::default()
    };
    assert!(matches!(
        plot::line(&p, &empty),
        Err(Error::PlotData { .. })
    ));
    let nan = LinePlot {
        series: vec![Series::new(
            "a",
            vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
        )],
        ..Default::default()
    };
    assert!(matches!(plot::line(&p, &nan), Err(Error::PlotData { .. })));
    let nonpos = LinePlot {
        series: vec![Series::new("a", vec![(0.0, 1.0), (-1.0, 2.0)])],
        log_x: true,
        ..Default::default()
    };
    assert!(matches!(
        plot::line(&p, &nonpos),
        Err(Error::PlotData { .. })
    ));
    assert!(!p.exists());
}

fn grid() -> Heatmap {
    let layers = 8;
    let langs = ["en", "de", "fr", "es", "fi", "tr", "zh", "ja", "sw", "ru"];
    Heatmap {
        title: "Probe accuracy by layer and language".into(),
        x_label: "language".into(),
        y_label: "layer".into(),
        x_ticks: langs.iter().map(|s| s.to_string()).collect(),
        y_ticks: (0..layers).map(|l| format!("L{l}")).collect(),
        values: (0..layers)
            .map(|l| {
                (0..langs.len())
                    .map(|x| 0.3 + 0.6 * (l as f64 / 7.0) * (1.0 - x as f64 / 20.0))
                    .collect()
            })
            .collect(),
        value_range: Some((0.0, 1.0)),
        annotate: true,
    }
}

#[test]
fn heatmap_writes_png() {
    let p = out("heatmap.png");
    plot::heatmap(&p, &grid()).unwrap();
    assert_png(&p);

    // Default range, no ticks, a NaN cell, many cells (annotations skipped when too small).
    let mut big = Heatmap {
        title: "Similarity".into(),
        values: (0..40)
            .map(|i| (0..60).map(|j| ((i * j) as f64).sin()).collect())
            .collect(),
        annotate: true,
        ..Default::default()
    };
    big.values[3][4] = f64::NAN;
    let p = out("heatmap_big.png");
    plot::heatmap(&p, &big).unwrap();
    assert_png(&p);
}

#[test]
fn heatmap_rejects_bad_input() {
    let p = out("heatmap_bad.png");
    assert!(matches!(
        plot::heatmap(&p, &Heatmap::default()),
        Err(Error::PlotData { .. })
    ));
    let ragged = Heatmap {
        values: vec![vec![1.0, 2.0], vec![3.0]],
        ..Default::default()
    };
    assert!(matches!(
        plot::heatmap(&p, &ragged),
        Err(Error::PlotData { .. })
    ));
    let nan = Heatmap {
        values: vec![vec![f64::NAN]],
        ..Default::default()
    };
    assert!(matches!(
        plot::heatmap(&p, &nan),
        Err(Error::PlotData { .. })
    ));
    let ticks = Heatmap {
        values: vec![vec![1.0, 2.0]],
        x_ticks: vec!["a".into()],
        ..Default::default()
    };
    assert!(matches!(
        plot::heatmap(&p, &ticks),
        Err(Error::PlotData { .. })
    ));
    let range = Heatmap {
        values: vec![vec![1.0]],
        value_range: Some((1.0, 1.0)),
        ..Default::default()
    };
    assert!(matches!(
        plot::heatmap(&p, &range),
        Err(Error::PlotData { .. })
    ));
    // A constant map is fine.
    let constant = Heatmap {
        title: "Constant".into(),
        values: vec![vec![2.0; 3]; 2],
        annotate: true,
        ..Default::default()
    };
    let p2 = out("heatmap_constant.png");
    plot::heatmap(&p2, &constant).unwrap();
    assert_png(&p2);
}

#[test]
fn bar_chart_writes_png() {
    let p = out("bar.png");
    let chart = BarChart {
        title: "Accuracy by task".into(),
        y_label: "accuracy".into(),
        groups: vec!["sst2".into(), "mnli".into(), "qqp".into(), "rte".into()],
        series: vec![
            ("ours".into(), vec![0.91, 0.78, 0.86, 0.62]),
            ("paper".into(), vec![0.93, 0.80, 0.88, 0.66]),
            ("soup".into(), vec![0.92, f64::NAN, 0.87, 0.70]),
        ],
    };
    plot::bar(&p, &chart).unwrap();
    assert_png(&p);

    let p = out("bar_negative.png");
    let neg = BarChart {
        title: "Delta vs baseline".into(),
        y_label: "Δ loss".into(),
        groups: vec!["a".into(), "b".into()],
        series: vec![("delta".into(), vec![-0.2, 0.35])],
    };
    plot::bar(&p, &neg).unwrap();
    assert_png(&p);
}

#[test]
fn bar_chart_rejects_bad_input() {
    let p = out("bar_bad.png");
    assert!(matches!(
        plot::bar(&p, &BarChart::default()),
        Err(Error::PlotData { .. })
    ));
    let no_series = BarChart {
        groups: vec!["a".into()],
        ..Default::default()
    };
    assert!(matches!(
        plot::bar(&p, &no_series),
        Err(Error::PlotData { .. })
    ));
    let short = BarChart {
        groups: vec!["a".into(), "b".into()],
        series: vec![("s".into(), vec![1.0])],
        ..Default::default()
    };
    assert!(matches!(plot::bar(&p, &short), Err(Error::PlotData { .. })));
    let nan = BarChart {
        groups: vec!["a".into()],
        series: vec![("s".into(), vec![f64::NAN])],
        ..Default::default()
    };
    assert!(matches!(plot::bar(&p, &nan), Err(Error::PlotData { .. })));
}

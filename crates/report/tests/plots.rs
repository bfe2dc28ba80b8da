//! Each plot writes a PNG and an SVG beside it; the images land in
//! `$CARGO_TARGET_TMPDIR/plots` for inspection.

use std::path::PathBuf;

use ember_report::Error;
use ember_report::plot::{
    self, BarChart, BarLabels, BarOptions, Corner, ErrorStyle, Heatmap, Legend, LineOptions,
    LinePlot, LineStyle, Marker, Series, Ticks,
};

fn out(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(plot::svg_path(&path));
    path
}

/// The PNG is a PNG, and the SVG beside it is one (well-formed enough: one `<svg>` root,
/// balanced text elements, closed).
fn assert_png(path: &PathBuf) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(plot::svg_path(path)).unwrap();
    assert_svg(&svg);
}

fn assert_svg(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(svg.contains("font-family=\"DejaVu Sans, Verdana, Arial, Helvetica, sans-serif\""));
}

fn svg_of(path: &PathBuf) -> String {
    std::fs::read_to_string(plot::svg_path(path)).unwrap()
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
    assert!(svg_of(&p).contains("Training loss"));
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
    assert!(!plot::svg_path(&p).exists());
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

/// Three seeds per point: means with error bars, and the same as a band.
fn seeds(name: &str, base: f64, slope: f64) -> Series {
    Series::from_samples(
        name,
        (0..=6).map(|l| {
            let x = l as f64;
            let m = base + slope * x;
            (x, vec![m - 0.02, m + 0.01 * (x % 3.0), m + 0.03])
        }),
    )
}

#[test]
fn error_bars_and_bands_render() {
    let p = out("line_errors.png");
    let plot = LinePlot {
        title: "Probe accuracy per layer (3 seeds)".into(),
        x_label: "layer".into(),
        y_label: "accuracy".into(),
        series: vec![
            seeds("ours", 0.5, 0.05),
            seeds("baseline", 0.45, 0.03).with_error_style(ErrorStyle::Band),
            Series::new(
                "symmetric",
                (0..=6).map(|l| (l as f64, 0.3 + 0.02 * l as f64)).collect(),
            )
            .with_error_bars(vec![0.01, 0.02, f64::NAN, 0.02, 0.01, 0.03, 0.02]),
            Series::new(
                "range",
                (0..=6).map(|l| (l as f64, 0.2 + 0.01 * l as f64)).collect(),
            )
            .with_band_range((0..=6).map(|l| (0.18 + 0.01 * l as f64, 0.23 + 0.012 * l as f64))),
        ],
        log_x: false,
    };
    plot::line(&p, &plot).unwrap();
    assert_png(&p);
    assert!(svg_of(&p).contains("Probe accuracy per layer (3 seeds)"));

    // Long series: markers and error bars on a subset; a band on a log axis.
    let steps: Vec<f64> = (1..=300).map(|i| (i * 5) as f64).collect();
    let long = LinePlot {
        title: "Loss over 3 seeds".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![
            Series::new(
                "train",
                steps
                    .iter()
                    .map(|&s| (s, 1.0 + 2.0 * (-s / 300.0).exp()))
                    .collect(),
            )
            .with_band(steps.iter().map(|&s| 0.1 * (-s / 600.0).exp())),
            Series::new(
                "held-out",
                steps
                    .iter()
                    .map(|&s| (s, 1.2 + 2.0 * (-s / 350.0).exp()))
                    .collect(),
            )
            .with_error_bars(steps.iter().map(|_| 0.05)),
        ],
        log_x: true,
    };
    let p = out("line_band_log.png");
    plot::line(&p, &long).unwrap();
    assert_png(&p);
}

#[test]
fn error_list_of_wrong_length_is_rejected() {
    let p = out("line_bad_errors.png");
    let plot = LinePlot {
        title: "bad".into(),
        series: vec![Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)]).with_error_bars(vec![0.1])],
        ..Default::default()
    };
    let err = plot::line(&p, &plot).unwrap_err();
    assert!(matches!(err, Error::PlotData { .. }));
    assert!(
        err.to_string().contains("1 error ranges for 2 points"),
        "{err}"
    );
    assert!(!p.exists());
}

fn ten_series() -> LinePlot {
    LinePlot {
        title: "MD score and top-1 retrieval per layer".into(),
        x_label: "step".into(),
        y_label: "score".into(),
        series: (0..10)
            .map(|k| {
                let name = if k < 5 {
                    format!("MD score L{k}")
                } else {
                    format!("top-1 L{}", k - 5)
                };
                let base = if k < 5 {
                    0.7 - 0.01 * k as f64
                } else {
                    0.17 - 0.01 * (k - 5) as f64
                };
                Series::new(
                    name,
                    [1.0, 12.0, 40.0, 120.0, 400.0, 1500.0]
                        .iter()
                        .enumerate()
                        .map(|(i, &s)| (s, base - 0.02 * i as f64 + 0.003 * (k * i % 4) as f64))
                        .collect(),
                )
            })
            .collect(),
        log_x: true,
    }
}

#[test]
fn styles_markers_and_legend_options_render() {
    // Ten series: colour + dash + marker, legend outside.
    let p = out("line_ten.png");
    plot::line(&p, &ten_series()).unwrap();
    assert_png(&p);

    // Every line style and marker set explicitly, scatter (no line), pairing colours.
    let lines = [
        LineStyle::Solid,
        LineStyle::Dashed,
        LineStyle::Dotted,
        LineStyle::None,
    ];
    let markers = [
        Marker::Circle,
        Marker::Square,
        Marker::Triangle,
        Marker::Diamond,
        Marker::Cross,
        Marker::None,
    ];
    let series = markers
        .iter()
        .enumerate()
        .map(|(k, &m)| {
            Series::new(
                format!("{m:?}"),
                (0..8)
                    .map(|x| (x as f64, k as f64 + 0.3 * (x as f64).sin()))
                    .collect(),
            )
            .with_marker(m)
            .with_line(lines[k % lines.len()])
            .with_color(plot::series_color(k / 2))
        })
        .collect();
    let styled = LinePlot {
        title: "Styles".into(),
        series,
        ..Default::default()
    };
    for (name, legend) in [
        ("auto", Legend::Auto),
        ("outside", Legend::Outside),
        ("inside_ll", Legend::Inside(Corner::LowerLeft)),
        ("hidden", Legend::Hidden),
    ] {
        let p = out(&format!("line_styles_{name}.png"));
        plot::line_with(&p, &styled, &LineOptions::default().with_legend(legend)).unwrap();
        assert_png(&p);
    }
    // The legend's names are in the SVG unless hidden.
    assert!(texts(&svg_of(&out_existing("line_styles_auto.png"))).contains(&"Diamond".to_string()));
    assert!(
        !texts(&svg_of(&out_existing("line_styles_hidden.png"))).contains(&"Diamond".to_string())
    );
}

fn out_existing(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("plots")
        .join(name)
}

/// Tick labels of the x axis in the SVG (text elements below the plot area).
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let start = t.find('>')? + 1;
            let end = t.find("</text>")?;
            Some(t[start..end].trim().to_string())
        })
        .collect()
}

#[test]
fn integer_axes_get_integer_ticks() {
    // Layers 0..4: no "0.5" / "1.5" / ... tick labels.
    let plot = LinePlot {
        title: "Zero-shot per layer".into(),
        x_label: "layer".into(),
        y_label: "EER".into(),
        series: vec![
            Series::new(
                "SSL encoder",
                vec![
                    (0.0, 0.377),
                    (1.0, 0.3806),
                    (2.0, 0.39),
                    (3.0, 0.3785),
                    (4.0, 0.3768),
                ],
            ),
            Series::new("log-mel", vec![(0.0, 0.411), (4.0, 0.411)]),
        ],
        log_x: false,
    };
    let p = out("line_int.png");
    plot::line(&p, &plot).unwrap();
    assert_png(&p);
    let labels = texts(&svg_of(&p));
    for l in ["0", "1", "2", "3", "4"] {
        assert!(
            labels.iter().any(|t| t == l),
            "missing tick {l}: {labels:?}"
        );
    }
    assert!(
        !labels
            .iter()
            .any(|t| t == "0.5" || t == "1.5" || t == "3.5"),
        "{labels:?}"
    );

    // Forced integer ticks on non-integer data; forced real ticks on integer data.
    let frac = LinePlot {
        title: "Forced".into(),
        series: vec![Series::new("a", vec![(0.2, 1.0), (2.7, 2.0)])],
        ..Default::default()
    };
    let p = out("line_int_forced.png");
    plot::line_with(
        &p,
        &frac,
        &LineOptions::default().with_x_ticks(Ticks::Integer),
    )
    .unwrap();
    let labels = texts(&svg_of(&p));
    assert!(
        labels.iter().any(|t| t == "1") && labels.iter().any(|t| t == "2"),
        "{labels:?}"
    );
    assert!(
        !labels.iter().any(|t| t == "0.5" || t == "1.5"),
        "{labels:?}"
    );
    let two = LinePlot {
        title: "Two layers".into(),
        series: vec![Series::new("a", vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)])],
        ..Default::default()
    };
    let p = out("line_real_forced.png");
    plot::line(&p, &two).unwrap();
    let labels = texts(&svg_of(&p));
    assert!(!labels.iter().any(|t| t == "0.5"), "{labels:?}");
    plot::line_with(&p, &two, &LineOptions::default().with_x_ticks(Ticks::Real)).unwrap();
    let labels = texts(&svg_of(&p));
    assert!(labels.iter().any(|t| t == "0.5"), "{labels:?}");
}

/// The proxy-fda Δ_LP chart: six series, negative values, near-equal small values next to
/// each other ("0.330.11").
fn delta_lp() -> BarChart {
    BarChart {
        title: "Δ_LP per prior task".into(),
        y_label: "Δ_LP (points)".into(),
        groups: vec![
            "colour".into(),
            "texture".into(),
            "colour×texture".into(),
            "size bin".into(),
        ],
        series: vec![
            ("naive FT".into(), vec![-49.1, -34.9, -67.3, -6.1]),
            ("LP-FT".into(), vec![-21.2, -12.4, -33.9, -5.0]),
            ("L2-SP λ=0.03".into(), vec![-27.8, -16.2, -41.4, -3.2]),
            ("LDIFS λ=0.3".into(), vec![0.0, 0.0, 0.33, -0.5]),
            ("FDA λ=10".into(), vec![0.0, -0.06, 0.11, 0.83]),
            ("Proxy-FDA λ=3".into(), vec![0.0, 0.0, -0.28, 0.83]),
        ],
    }
}

#[test]
fn bar_options_render() {
    let p = out("bar_delta_lp.png");
    plot::bar(&p, &delta_lp()).unwrap();
    assert_png(&p);
    assert!(svg_of(&p).contains("Δ_LP per prior task"));

    let chart = BarChart {
        title: "EER by head (3 seeds)".into(),
        y_label: "EER".into(),
        groups: vec!["SSL layers".into(), "log-mel".into()],
        series: vec![
            ("baseline x-vector".into(), vec![0.33, 0.41]),
            ("simplified SP".into(), vec![0.11, 0.40]),
        ],
    };
    let p = out("bar_errors.png");
    let opts = BarOptions::default().with_errors(vec![vec![0.02, 0.01], vec![0.015, f64::NAN]]);
    plot::bar_with(&p, &chart, &opts).unwrap();
    assert_png(&p);
    let p = out("bar_ranges.png");
    let opts = BarOptions::default()
        .with_error_ranges(vec![
            vec![(0.3, 0.35), (0.4, 0.43)],
            vec![(0.1, 0.12), (0.38, 0.41)],
        ])
        .with_legend(Legend::Outside)
        .with_labels(BarLabels::Never);
    plot::bar_with(&p, &chart, &opts).unwrap();
    assert_png(&p);
    let labels = texts(&svg_of(&p));
    assert!(
        !labels.iter().any(|t| t == "0.33"),
        "labels off: {labels:?}"
    );

    // Integer values: integer ticks, many bars with labels forced.
    let counts = BarChart {
        title: "Counts".into(),
        y_label: "n".into(),
        groups: (0..8).map(|i| format!("g{i}")).collect(),
        series: (0..4)
            .map(|k| {
                (
                    format!("s{k}"),
                    (0..8).map(|i| ((i * k) % 5) as f64).collect(),
                )
            })
            .collect(),
    };
    let p = out("bar_counts.png");
    let opts = BarOptions::default()
        .with_labels(BarLabels::Always)
        .with_y_ticks(Ticks::Auto);
    plot::bar_with(&p, &counts, &opts).unwrap();
    assert_png(&p);
    let labels = texts(&svg_of(&p));
    assert!(
        !labels.iter().any(|t| t.contains('.')),
        "integer ticks and labels: {labels:?}"
    );
}

#[test]
fn bar_error_lists_are_checked() {
    let p = out("bar_bad_errors.png");
    let chart = BarChart {
        groups: vec!["a".into(), "b".into()],
        series: vec![("s".into(), vec![1.0, 2.0])],
        ..Default::default()
    };
    for opts in [
        BarOptions::default().with_errors(vec![vec![0.1]]),
        BarOptions::default().with_errors(vec![vec![0.1, 0.1], vec![0.1, 0.1]]),
        BarOptions::default()
            .with_errors(vec![vec![0.1, 0.1]])
            .with_error_ranges(vec![vec![(0.9, 1.1), (1.9, 2.1)]]),
    ] {
        assert!(matches!(
            plot::bar_with(&p, &chart, &opts),
            Err(Error::PlotData { .. })
        ));
    }
    assert!(!p.exists());
}

#[test]
fn svg_only_path_writes_only_svg() {
    let p = out("only.svg");
    plot::line(&p, &curves(false)).unwrap();
    assert_svg(&std::fs::read_to_string(&p).unwrap());
    assert!(!p.with_extension("png").exists());
}

#[test]
fn heatmap_writes_svg_beside_png() {
    let p = out("heatmap_svg.png");
    plot::heatmap(&p, &grid()).unwrap();
    assert_png(&p);
    assert!(svg_of(&p).contains("Probe accuracy by layer and language"));
}

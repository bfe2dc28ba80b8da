//! The image-source simulator against pyroomacoustics 0.10.1
//! (`scripts/gen_spatial_audio_fixtures.py`): the same shoebox, source and microphone give
//! the same RIR sample by sample; inverse Sabine and the Schroeder RT60 match.

use ember_spatial_audio::room::{Shoebox, SimConfig, inverse_sabine, measure_t60, omni_rir};
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pra_rir.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn arr3(v: &Value) -> [f64; 3] {
    let a: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [a[0], a[1], a[2]]
}

#[test]
fn rirs_match_pyroomacoustics() {
    let f = fixtures();
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let abs: Vec<f64> = case["absorption"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let room = Shoebox {
            dims: arr3(&case["dims"]),
            absorption: abs.try_into().unwrap(),
        };
        let cfg = SimConfig {
            sample_rate: f["fs"].as_f64().unwrap(),
            max_order: case["order"].as_u64().unwrap() as usize,
            frac_delay_taps: f["frac_delay_length"].as_u64().unwrap() as usize,
        };
        let want: Vec<f64> = case["rir"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let got = omni_rir(&room, arr3(&case["source"]), arr3(&case["mic"]), &cfg).unwrap();
        let got = &got.channels[0];
        assert_eq!(got.len(), want.len(), "{name}: length");
        let peak = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let max_err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0f64, f64::max);
        let energy = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>();
        let e_diff = energy(&mut got.iter().zip(&want).map(|(a, b)| *a as f64 - b));
        let e_ref = energy(&mut want.iter().copied());
        let rel_db = 10.0 * (e_diff / e_ref).log10();
        eprintln!(
            "{name}: {} samples, max |Δ| {max_err:.2e} (peak {peak:.3}), error energy {rel_db:.1} dB",
            want.len()
        );
        // pyroomacoustics interpolates the sinc from a 20-point-per-sample table.
        assert!(
            max_err <= 2e-3 * peak,
            "{name}: max error {max_err} vs peak {peak}"
        );
        assert!(rel_db < -40.0, "{name}: error energy {rel_db} dB");
    }
}

#[test]
fn inverse_sabine_matches_pyroomacoustics() {
    for c in fixtures()["inverse_sabine"].as_array().unwrap() {
        let (a, n) = inverse_sabine(c["rt60"].as_f64().unwrap(), arr3(&c["dims"])).unwrap();
        assert!((a - c["absorption"].as_f64().unwrap()).abs() < 1e-12);
        assert_eq!(n as u64, c["max_order"].as_u64().unwrap());
    }
    assert!(inverse_sabine(0.01, [10.0, 10.0, 10.0]).is_err());
    assert!(inverse_sabine(f64::NAN, [10.0, 10.0, 10.0]).is_err());
}

#[test]
fn schroeder_rt60_matches_pyroomacoustics() {
    let f = fixtures();
    let case = &f["cases"][2];
    let h: Vec<f32> = case["rir"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let want = case["rt60_t30"].as_f64().unwrap();
    let got = measure_t60(&h, 16000.0, 30.0).unwrap();
    eprintln!("T30-based RT60: ours {got:.5} s, pyroomacoustics {want:.5} s");
    assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
}

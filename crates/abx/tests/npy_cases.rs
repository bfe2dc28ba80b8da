//! `.npy` conformance: every file in `tests/data/npy_cases/` was written by
//! `scripts/gen_npy_cases.py` with NumPy, and `expected.json` records what `np.load` made of it
//! (values cast to float32, as IEEE bit patterns). The reader must agree: the same shape and
//! bits where NumPy loads the file, an error naming the file where NumPy raises, and an error
//! naming the dtype for the dtypes ember deliberately does not convert (complex, strings,
//! structured). No Python is needed to run this test.

use ember_abx::npy::read_npy;
use serde_json::Value;
use std::path::Path;

#[test]
fn reader_agrees_with_numpy_on_every_case() {
    // EMBER_NPY_CASES: another folder of cases in the same layout (e.g. a larger generated
    // set for a one-off differential run against NumPy).
    let dir = std::env::var_os("EMBER_NPY_CASES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy_cases"),
        std::path::PathBuf::from,
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = doc["cases"].as_object().unwrap();
    assert!(cases.len() >= 70, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let (mut loaded, mut rejected) = (0, 0);
    for (file, want) in cases {
        let got = read_npy(dir.join(file));
        let numpy_ok = want["numpy"] == "ok";
        let problem = match (&got, numpy_ok, want.get("ember")) {
            (Err(e), true, Some(_)) => {
                rejected += 1;
                let dtype = want["dtype"].as_str().unwrap();
                (!e.to_string().contains("dtype"))
                    .then(|| format!("unsupported {dtype}: error does not say dtype: {e}"))
            }
            (Ok(a), true, Some(_)) => Some(format!("unsupported dtype read as {a:?}")),
            (Ok(a), true, None) => {
                loaded += 1;
                let shape: Vec<usize> = want["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                let bits: Vec<u32> = want["bits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect();
                let got_bits: Vec<u32> = a.data.iter().map(|v| v.to_bits()).collect();
                if a.shape != shape {
                    Some(format!("shape {:?}, NumPy {shape:?}", a.shape))
                } else if got_bits != bits {
                    let want_f: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
                    Some(format!("values {:?}, NumPy {want_f:?}", a.data))
                } else {
                    None
                }
            }
            (Err(e), true, None) => Some(format!("error {e}, NumPy loads it")),
            (Ok(a), false, _) => Some(format!(
                "read as {:?} (shape {:?}), NumPy: {}",
                &a.data[..a.data.len().min(8)],
                a.shape,
                want["error"]
            )),
            (Err(e), false, _) => {
                rejected += 1;
                (!e.to_string().contains(file.as_str()))
                    .then(|| format!("error does not name the file: {e}"))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{file}: {p}"));
        }
    }
    println!(
        "{loaded} cases loaded as NumPy loads them, {rejected} rejected as NumPy does (or unsupported)"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

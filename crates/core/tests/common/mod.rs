//! Helpers shared by the Hugging Face error-test binaries.

use std::fmt::Display;
use std::fs;
use std::path::Path;

/// Truncates `dir/model.safetensors` at several points (each must be an error naming the
/// file) and flips 200 bits of its header (an error or a model that loads, never a panic),
/// then restores the file.
pub fn damaged_weights_are_errors<T, E: Display>(dir: &Path, load: impl Fn(&Path) -> Result<T, E>) {
    let path = dir.join("model.safetensors");
    let good = fs::read(&path).unwrap();
    for cut in [0, 7, 8, 100, 200, good.len() / 2, good.len() - 1] {
        fs::write(&path, &good[..cut.min(good.len() - 1)]).unwrap();
        let e = match load(dir) {
            Ok(_) => panic!("{} cut to {cut} bytes loaded", path.display()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("model.safetensors"), "cut {cut}: {e}");
    }
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for i in 0..200 {
        let mut bad = good.clone();
        bad[(i * 7919) % header] ^= 1 << (i % 8);
        fs::write(&path, &bad).unwrap();
        let _ = load(dir);
    }
    fs::write(&path, &good).unwrap();
}

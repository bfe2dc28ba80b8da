//! Helpers shared by the test binaries: `.npy` bytes written the way `np.save` writes them,
//! and ZeroSpeech item files.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};

/// A `.npy` file with a hand-written header dict, padded the way `np.save` pads it.
pub fn npy(major: u8, header: &str, body: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    let pre = if major == 1 { 10 } else { 12 };
    while !(pre + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([major, 0]);
    if major == 1 {
        out.extend((h.len() as u16).to_le_bytes());
    } else {
        out.extend((h.len() as u32).to_le_bytes());
    }
    out.extend(h.as_bytes());
    out.extend(body);
    out
}

/// The header dict `np.save` writes for `descr`, `fortran_order` and `shape` (a tuple literal).
pub fn header(descr: &str, fortran: bool, shape: &str) -> String {
    let f = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}")
}

/// An item file `items.item` in `dir` with the ZeroSpeech header and `lines`.
pub fn write_items(dir: &Path, lines: &[&str]) -> PathBuf {
    let p = dir.join("items.item");
    let mut s = String::from("#file onset offset #phone prev next speaker\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

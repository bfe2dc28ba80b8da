//! ZeroSpeech / Libri-Light ABX inputs: the item file
//! (`#file onset offset #phone prev next speaker`, one item per line, times in seconds) and
//! one `.npy` feature array `[T, D]` per audio file (`<features_dir>/<file>.npy`).
//!
//! Item frames are `⌊onset·f⌋ .. ⌈offset·f⌉` (end exclusive, clipped to `T`) for a feature
//! rate of `f` frames per second: every frame that overlaps the segment, so the last frame
//! is kept (fastabx's fix of the Libri-Light off-by-one; our exact boundary rule is
//! reconstructed, not copied).

use crate::dataset::Dataset;
use crate::engine::{Subsample, Task};
use crate::npy::{read_npy, read_regular_file};
use ember_core::{Error, Result};
use std::collections::HashMap;
use std::path::{Component, Path};

/// One line of an item file.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemLine {
    /// Audio file stem.
    pub file: String,
    /// Start (s).
    pub onset: f64,
    /// End (s).
    pub offset: f64,
    /// Central phone.
    pub phone: String,
    /// Previous phone.
    pub prev: String,
    /// Next phone.
    pub next: String,
    /// Speaker.
    pub speaker: String,
}

/// Reads an item file; the header line must start with `#file`. File names must be relative
/// paths inside the feature folder (no `..`, no root), times finite with `0 ≤ onset < offset`.
pub fn read_item_file(path: impl AsRef<Path>) -> Result<Vec<ItemLine>> {
    let path = path.as_ref();
    let text = String::from_utf8(read_regular_file(path)?)
        .map_err(|e| Error::format(path, format!("not UTF-8 text ({e})")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim_start().starts_with("#file") => {}
        _ => {
            return Err(Error::format(
                path,
                "missing header line '#file onset offset #phone prev next speaker'",
            ));
        }
    }
    let mut out = Vec::new();
    for (no, line) in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 7 {
            return Err(Error::format(
                path,
                format!("line {}: expected 7 fields, found {}", no + 1, f.len()),
            ));
        }
        let num = |s: &str, what: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::format(
                        path,
                        format!("line {}: {what} {s:?} is not a number", no + 1),
                    )
                })
        };
        let file = Path::new(f[0]);
        if !file
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::format(
                path,
                format!(
                    "line {}: file {:?} must be a relative name inside the feature folder \
                     (no '..' or root)",
                    no + 1,
                    f[0]
                ),
            ));
        }
        let (onset, offset) = (num(f[1], "onset")?, num(f[2], "offset")?);
        if onset < 0.0 || offset <= onset {
            return Err(Error::format(
                path,
                format!(
                    "line {}: need 0 ≤ onset < offset, got {onset} {offset}",
                    no + 1
                ),
            ));
        }
        out.push(ItemLine {
            file: f[0].into(),
            onset,
            offset,
            phone: f[3].into(),
            prev: f[4].into(),
            next: f[5].into(),
            speaker: f[6].into(),
        });
    }
    if out.is_empty() {
        return Err(Error::format(path, "item file lists no items"));
    }
    Ok(out)
}

/// Frame range `⌊onset·f⌋ .. min(⌈offset·f⌉, t)` of an item.
pub fn frame_range(onset: f64, offset: f64, frame_rate: f64, t: usize) -> (usize, usize) {
    let s = (onset * frame_rate + 1e-9).floor().max(0.0) as usize;
    let e = ((offset * frame_rate - 1e-9).ceil().max(0.0) as usize).min(t);
    (s, e)
}

/// Builds a [`Dataset`] (columns `phone`, `prev`, `next`, `speaker`) from an item file and a
/// directory of per-file `.npy` features at `frame_rate` frames per second. Missing files,
/// widths that differ between files, and items outside their file are errors.
pub fn load_zerospeech(
    item_file: impl AsRef<Path>,
    features_dir: impl AsRef<Path>,
    frame_rate: f64,
) -> Result<Dataset> {
    if !(frame_rate > 0.0 && frame_rate.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "frame rate must be > 0, got {frame_rate}"
        )));
    }
    let items = read_item_file(&item_file)?;
    let dir = features_dir.as_ref();
    let mut cache: HashMap<String, (usize, usize, Vec<f32>)> = HashMap::new();
    let mut ds: Option<Dataset> = None;
    for it in &items {
        let p = dir.join(format!("{}.npy", it.file));
        if !cache.contains_key(&it.file) {
            let a = read_npy(&p)?;
            let (t, d) = match a.shape.as_slice() {
                [t, d] => (*t, *d),
                [t] => (*t, 1),
                s => {
                    return Err(Error::format(
                        &p,
                        format!("features must be [T, D], got shape {s:?}"),
                    ));
                }
            };
            if d == 0 {
                return Err(Error::format(
                    &p,
                    format!("features have width 0 (shape {:?})", a.shape),
                ));
            }
            cache.insert(it.file.clone(), (t, d, a.data));
        }
        let (t, d, data) = &cache[&it.file];
        let ds = match &mut ds {
            Some(ds) => ds,
            none => none.insert(Dataset::new(&["phone", "prev", "next", "speaker"], *d)?),
        };
        if *d != ds.dim() {
            return Err(Error::format(
                &p,
                format!("features have width {d}, earlier files have {}", ds.dim()),
            ));
        }
        let (s, e) = frame_range(it.onset, it.offset, frame_rate, *t);
        if s >= e {
            return Err(Error::format(
                &p,
                format!(
                    "item {} {}–{} s has no frame ({t} frames at {frame_rate} Hz)",
                    it.file, it.onset, it.offset
                ),
            ));
        }
        // `e ≤ t` and `t · d = data.len()` (checked by the reader), so this is in bounds.
        ds.push(
            &[&it.phone, &it.prev, &it.next, &it.speaker],
            &data[s * d..e * d],
        )?;
    }
    ds.ok_or_else(|| Error::InvalidInput("no items".into()))
}

/// The ZeroSpeech 2021 phoneme ABX task and its aggregation levels: ON phone, BY context
/// (prev, next), BY speaker (`across_speaker = false`) or ACROSS speaker; collapse context,
/// then speaker, then mean over phone pairs.
pub fn zerospeech_task(
    across_speaker: bool,
    subsample: Subsample,
) -> (Task, Vec<Vec<&'static str>>) {
    let task = if across_speaker {
        Task::on("phone").by(&["prev", "next"]).across(&["speaker"])
    } else {
        Task::on("phone").by(&["prev", "next", "speaker"])
    }
    .subsample(subsample);
    (task, vec![vec!["prev", "next"], vec!["speaker"]])
}

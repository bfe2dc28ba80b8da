//! Readers for the VoxCeleb-style formats: a trial list (`label enroll.wav test.wav` per
//! line, label 1 = same speaker, 0 = different) and a `root/<speaker>/**/<utt>.wav` tree.

use ember_core::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One verification trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    /// Same speaker?
    pub target: bool,
    /// Enrolment utterance (path relative to the audio root, as written in the list).
    pub enroll: String,
    /// Test utterance.
    pub test: String,
}

/// A trial list with its unique utterances, so each is embedded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialList {
    /// The trials in file order.
    pub trials: Vec<Trial>,
    /// Unique utterances in order of first appearance.
    pub utterances: Vec<String>,
    /// `(enroll index, test index)` into `utterances` for every trial.
    pub pairs: Vec<(usize, usize)>,
}

impl TrialList {
    /// Index trials by unique utterance. Errors on an empty list.
    pub fn new(trials: Vec<Trial>) -> Result<Self> {
        if trials.is_empty() {
            return Err(Error::InvalidInput("trial list: no trials".into()));
        }
        let mut index = HashMap::new();
        let mut utterances = Vec::new();
        let mut id = |u: &str| {
            *index.entry(u.to_owned()).or_insert_with(|| {
                utterances.push(u.to_owned());
                utterances.len() - 1
            })
        };
        let pairs = trials
            .iter()
            .map(|t| (id(&t.enroll), id(&t.test)))
            .collect();
        Ok(TrialList {
            trials,
            utterances,
            pairs,
        })
    }

    /// The target labels in trial order.
    pub fn labels(&self) -> Vec<bool> {
        self.trials.iter().map(|t| t.target).collect()
    }
}

/// Parse a trial list from text (`path` is only used in error messages). Blank lines and
/// lines starting with `#` are skipped.
pub fn parse_trials(text: &str, path: &Path) -> Result<TrialList> {
    let mut trials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(Error::format(
                path,
                format!(
                    "line {}: expected `label enroll test`, found {} fields: {line:?}",
                    i + 1,
                    f.len()
                ),
            ));
        }
        let target = match f[0] {
            "1" | "target" => true,
            "0" | "nontarget" => false,
            other => {
                return Err(Error::format(
                    path,
                    format!("line {}: label must be 1 or 0, found {other:?}", i + 1),
                ));
            }
        };
        trials.push(Trial {
            target,
            enroll: f[1].to_owned(),
            test: f[2].to_owned(),
        });
    }
    if trials.is_empty() {
        return Err(Error::format(path, "no trials in the file"));
    }
    TrialList::new(trials)
}

/// Read a trial list file (see [`parse_trials`]).
pub fn read_trials(path: impl AsRef<Path>) -> Result<TrialList> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_trials(&text, path)
}

/// One utterance of a speaker directory tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// The speaker directory's name.
    pub speaker: String,
    /// Path relative to the root, with `/` separators (the form trial lists use).
    pub id: String,
    /// Full path.
    pub path: PathBuf,
}

/// List `root/<speaker>/**/*.wav` (VoxCeleb: `id10001/<video>/00001.wav`), sorted by id.
///
/// Errors: `root` missing or unreadable, a non-directory entry at the speaker level, no
/// speaker directories, or a speaker without any `.wav` file.
pub fn scan_speaker_tree(root: impl AsRef<Path>) -> Result<Vec<Utterance>> {
    let root = root.as_ref();
    let mut speakers = read_dir_sorted(root)?;
    speakers.retain(|p| {
        !p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
    });
    if speakers.is_empty() {
        return Err(Error::format(root, "no speaker directories"));
    }
    let mut out = Vec::new();
    for sp in speakers {
        if !sp.is_dir() {
            return Err(Error::format(
                &sp,
                "expected a speaker directory at the top level of the tree",
            ));
        }
        let name = sp
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::format(&sp, "speaker directory name is not UTF-8"))?
            .to_owned();
        let before = out.len();
        walk(&sp, root, &name, &mut out)?;
        if out.len() == before {
            return Err(Error::format(&sp, "speaker directory holds no .wav files"));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<Vec<_>>>()?;
    v.sort();
    Ok(v)
}

fn walk(dir: &Path, root: &Path, speaker: &str, out: &mut Vec<Utterance>) -> Result<()> {
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            walk(&p, root, speaker, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            let id = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Utterance {
                speaker: speaker.to_owned(),
                id,
                path: p,
            });
        }
    }
    Ok(())
}

//! Readers for the VoxCeleb-style formats: a trial list (`label enroll.wav test.wav` per
//! line, label 1 = same speaker, 0 = different) and a `root/<speaker>/**/<utt>.wav` tree.

use ember_core::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
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
/// lines starting with `#` are skipped; a leading UTF-8 byte-order mark is ignored.
pub fn parse_trials(text: &str, path: &Path) -> Result<TrialList> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut trials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(t) = parse_trial_line(line, i + 1, path)? {
            trials.push(t);
        }
    }
    if trials.is_empty() {
        return Err(Error::format(path, "no trials in the file"));
    }
    TrialList::new(trials)
}

/// [`parse_trials`] on raw bytes: a line that is not UTF-8 is an error naming its number.
pub fn parse_trial_bytes(bytes: &[u8], path: &Path) -> Result<TrialList> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_trials(text, path),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(Error::format(
                path,
                format!("line {line}: not valid UTF-8 text"),
            ))
        }
    }
}

fn parse_trial_line(line: &str, n: usize, path: &Path) -> Result<Option<Trial>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut f = line.split_whitespace();
    let (Some(label), Some(enroll), Some(test), None) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(Error::format(
            path,
            format!(
                "line {n}: expected `label enroll test`, found {} fields: {:?}",
                line.split_whitespace().count(),
                shorten(line)
            ),
        ));
    };
    let target = match label {
        "1" | "target" => true,
        "0" | "nontarget" => false,
        other => {
            return Err(Error::format(
                path,
                format!("line {n}: label must be 1 or 0, found {:?}", shorten(other)),
            ));
        }
    };
    Ok(Some(Trial {
        target,
        enroll: enroll.to_owned(),
        test: test.to_owned(),
    }))
}

/// At most 80 characters of `s` for an error message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

/// Read a trial list file (see [`parse_trials`]).
pub fn read_trials(path: impl AsRef<Path>) -> Result<TrialList> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_trial_bytes(&bytes, path)
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

/// How [`scan_speaker_tree_with`] walks a tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// Follow symbolic links to directories (default: no, they are skipped, and one at the
    /// speaker level is an error). When on, a link is followed only if its target lies outside
    /// the tree (a link into the tree or to a directory above it would list files twice or
    /// loop), and every directory outside the tree is listed once, under the first path that
    /// reaches it, so link cycles end.
    pub follow_links: bool,
}

/// List `root/<speaker>/**/*.wav` (VoxCeleb: `id10001/<video>/00001.wav`), sorted by id, with
/// the default [`ScanOptions`]: links to directories are not followed.
///
/// See [`scan_speaker_tree_with`] for the rules and errors.
pub fn scan_speaker_tree(root: impl AsRef<Path>) -> Result<Vec<Utterance>> {
    scan_speaker_tree_with(root, ScanOptions::default())
}

/// List `root/<speaker>/**/*.wav`, sorted by id.
///
/// Names starting with `.` are skipped at every level (`.git`, macOS `._x.wav` files); the
/// `.wav` extension matches in any case; symbolic links to files are listed like files;
/// links to directories are followed only with [`ScanOptions::follow_links`].
///
/// Errors, each naming the path: `root` missing or unreadable, an unreadable directory, a
/// non-directory entry at the speaker level (or a directory link there without
/// `follow_links`), no speaker directories, a speaker without any `.wav` file, a broken
/// symbolic link anywhere in the walk, a `.wav` entry that is not a regular file, or a
/// directory or `.wav` name that is not valid UTF-8 (utterance ids are text: two such names
/// would otherwise map to the same id; other files' names are not looked at).
pub fn scan_speaker_tree_with(root: impl AsRef<Path>, opts: ScanOptions) -> Result<Vec<Utterance>> {
    let root = root.as_ref();
    let mut walk = Walk {
        opts,
        root_canon: std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?,
        visited: HashSet::new(),
        out: Vec::new(),
    };
    let speakers = read_dir_sorted(root)?;
    if speakers.is_empty() {
        return Err(Error::format(root, "no speaker directories"));
    }
    for (sp, name) in speakers {
        let name = utf8_name(&sp, &name)?;
        let outside = match kind(&sp)? {
            Kind::Dir => false,
            Kind::DirLink if opts.follow_links => {
                if !walk.enter(&sp)? {
                    return Err(Error::format(
                        &sp,
                        "a link to a directory inside the tree (or one already listed): its \
                         files would be listed twice",
                    ));
                }
                true
            }
            Kind::BrokenLink => return Err(broken_link(&sp)),
            Kind::DirLink => {
                return Err(Error::format(
                    &sp,
                    "a symbolic link to a directory at the speaker level; links are not \
                     followed by default (use scan_speaker_tree_with with \
                     ScanOptions { follow_links: true })",
                ));
            }
            _ => {
                return Err(Error::format(
                    &sp,
                    "expected a speaker directory at the top level of the tree",
                ));
            }
        };
        let before = walk.out.len();
        walk.speaker(sp.clone(), name, outside)?;
        if walk.out.len() == before {
            let why = if opts.follow_links {
                " (a directory reached through links is listed once, under the first path)"
            } else {
                ""
            };
            return Err(Error::format(
                &sp,
                format!("speaker directory holds no .wav files{why}"),
            ));
        }
    }
    let mut out = walk.out;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// What a directory entry is, looking through one symbolic link.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    DirLink,
    FileLink,
    /// A link whose target is missing (or a link loop).
    BrokenLink,
    /// A FIFO, socket, device, ...
    Other,
}

fn kind(p: &Path) -> Result<Kind> {
    let m = std::fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
    if !m.file_type().is_symlink() {
        return Ok(if m.is_dir() {
            Kind::Dir
        } else if m.is_file() {
            Kind::File
        } else {
            Kind::Other
        });
    }
    Ok(match std::fs::metadata(p) {
        Ok(t) if t.is_dir() => Kind::DirLink,
        Ok(t) if t.is_file() => Kind::FileLink,
        Ok(_) => Kind::Other,
        Err(_) => Kind::BrokenLink,
    })
}

struct Walk {
    opts: ScanOptions,
    root_canon: PathBuf,
    /// Canonical directories outside the tree already listed (only with `follow_links`).
    visited: HashSet<PathBuf>,
    out: Vec<Utterance>,
}

impl Walk {
    /// Walks one speaker directory depth-first without recursion (deep trees cannot overflow
    /// the stack). Each stack entry: directory, its id prefix, whether it lies outside the tree.
    fn speaker(&mut self, dir: PathBuf, speaker: &str, outside: bool) -> Result<()> {
        let mut stack = vec![(dir, speaker.to_owned(), outside)];
        while let Some((dir, prefix, outside)) = stack.pop() {
            // Subdirectories in name order (links are marked listed in that order), pushed
            // reversed so the first is walked first.
            let mut subs = Vec::new();
            for (p, name) in read_dir_sorted(&dir)? {
                let k = kind(&p)?;
                let sub_outside = match k {
                    Kind::BrokenLink => return Err(broken_link(&p)),
                    Kind::Dir if !outside => false,
                    Kind::Dir | Kind::DirLink if self.opts.follow_links => {
                        if !self.enter(&p)? {
                            continue;
                        }
                        true
                    }
                    Kind::DirLink => continue,
                    _ => {
                        if is_wav(&name) {
                            if !matches!(k, Kind::File | Kind::FileLink) {
                                return Err(Error::format(&p, "not a regular file"));
                            }
                            self.out.push(Utterance {
                                speaker: speaker.to_owned(),
                                id: format!("{prefix}/{}", utf8_name(&p, &name)?),
                                path: p,
                            });
                        }
                        continue;
                    }
                };
                let id = format!("{prefix}/{}", utf8_name(&p, &name)?);
                subs.push((p, id, sub_outside));
            }
            stack.extend(subs.into_iter().rev());
        }
        Ok(())
    }

    /// For a directory reached through a link (or below one, `follow_links` only): whether to
    /// walk it, i.e. it lies outside the tree and was not listed before (it is marked listed).
    fn enter(&mut self, dir: &Path) -> Result<bool> {
        let canon = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
        let overlaps = canon.starts_with(&self.root_canon) || self.root_canon.starts_with(&canon);
        Ok(!overlaps && self.visited.insert(canon))
    }
}

fn broken_link(p: &Path) -> Error {
    Error::format(p, "broken symbolic link (its target is missing or loops)")
}

fn is_wav(name: &OsStr) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

fn utf8_name<'a>(p: &Path, name: &'a OsStr) -> Result<&'a str> {
    name.to_str().ok_or_else(|| {
        Error::format(
            p,
            "name is not valid UTF-8; utterance ids must be text (rename it)",
        )
    })
}

/// The entries of `dir` sorted by name, without those whose name starts with `.`.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(PathBuf, OsString)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = e.map_err(|err| Error::io(dir, err))?.file_name();
        if !name.as_encoded_bytes().starts_with(b".") {
            v.push((dir.join(&name), name));
        }
    }
    v.sort();
    Ok(v)
}

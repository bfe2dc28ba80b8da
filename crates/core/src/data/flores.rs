//! FLORES-style parallel text: one file per language in a directory, line i of every file
//! being a translation of line i of the others (`eng_Latn.devtest`, `fra_Latn.devtest`, ...).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure};

/// How language codes map to file names: each pattern contains `{lang}` once. When reading,
/// the first pattern whose file exists wins, so one layout covers `.devtest`, `.dev` and `.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloresLayout {
    /// File-name patterns, tried in order. Default `{lang}.devtest`, `{lang}.dev`, `{lang}.txt`.
    pub patterns: Vec<String>,
}

impl Default for FloresLayout {
    fn default() -> Self {
        FloresLayout {
            patterns: vec![
                "{lang}.devtest".into(),
                "{lang}.dev".into(),
                "{lang}.txt".into(),
            ],
        }
    }
}

impl FloresLayout {
    /// A layout with one pattern, e.g. `"{lang}.txt"`.
    pub fn single(pattern: &str) -> Self {
        FloresLayout {
            patterns: vec![pattern.to_string()],
        }
    }

    fn validate(&self) -> Result<()> {
        ensure!(!self.patterns.is_empty(), "FloresLayout: no patterns");
        for p in &self.patterns {
            ensure!(
                p.matches("{lang}").count() == 1 && !p.contains(['/', '\\']),
                "FloresLayout: pattern {p:?} must contain {{lang}} exactly once and no path separator"
            );
        }
        Ok(())
    }

    fn split(pattern: &str) -> (&str, &str) {
        pattern.split_once("{lang}").unwrap_or((pattern, ""))
    }

    fn file_name(pattern: &str, lang: &str) -> String {
        pattern.replacen("{lang}", lang, 1)
    }
}

/// Aligned lines: `lines[k][i]` is sentence i in language `langs[k]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParallelText {
    /// Language codes.
    pub langs: Vec<String>,
    /// Per language, its lines (no trailing newline).
    pub lines: Vec<Vec<String>>,
}

impl ParallelText {
    /// Number of aligned sentences.
    pub fn len(&self) -> usize {
        self.lines.first().map_or(0, Vec::len)
    }

    /// Whether there are no sentences.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines of language `lang`.
    pub fn get(&self, lang: &str) -> Option<&[String]> {
        self.langs
            .iter()
            .position(|l| l == lang)
            .and_then(|i| self.lines.get(i))
            .map(Vec::as_slice)
    }
}

fn validate_lang(lang: &str) -> Result<()> {
    ensure!(
        !lang.is_empty() && !lang.contains(['/', '\\']) && lang != "." && lang != "..",
        "invalid language code {lang:?}"
    );
    Ok(())
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Err(Error::format(path, "empty file (no non-blank lines)"));
    }
    Ok(lines)
}

/// Reads `langs` from `dir` with the default [`FloresLayout`].
pub fn read_flores(dir: impl AsRef<Path>, langs: &[&str]) -> Result<ParallelText> {
    read_flores_with(dir, langs, &FloresLayout::default())
}

/// Reads `langs` from `dir` with `layout`. Errors: a missing file ([`Error::Io`] naming the
/// first pattern's path), invalid UTF-8 or an empty file ([`Error::Format`]), and files of
/// different line counts ([`Error::Shape`], naming both files and counts).
pub fn read_flores_with(
    dir: impl AsRef<Path>,
    langs: &[&str],
    layout: &FloresLayout,
) -> Result<ParallelText> {
    let dir = dir.as_ref();
    layout.validate()?;
    ensure!(!langs.is_empty(), "read_flores: no languages requested");
    let mut seen = std::collections::HashSet::new();
    let mut paths: Vec<PathBuf> = Vec::with_capacity(langs.len());
    for &lang in langs {
        validate_lang(lang)?;
        ensure!(
            seen.insert(lang),
            "read_flores: language {lang:?} requested twice"
        );
        let candidates: Vec<PathBuf> = layout
            .patterns
            .iter()
            .map(|p| dir.join(FloresLayout::file_name(p, lang)))
            .collect();
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => paths.push(p.clone()),
            None => {
                let tried: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                return Err(Error::io(
                    &candidates[0],
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("no file for language {lang:?} (tried {})", tried.join(", ")),
                    ),
                ));
            }
        }
    }
    let mut lines = Vec::with_capacity(langs.len());
    for p in &paths {
        lines.push(read_lines(p)?);
    }
    for (k, l) in lines.iter().enumerate().skip(1) {
        if l.len() != lines[0].len() {
            return Err(Error::Shape(format!(
                "{} has {} lines but {} has {}",
                paths[0].display(),
                lines[0].len(),
                paths[k].display(),
                l.len()
            )));
        }
    }
    Ok(ParallelText {
        langs: langs.iter().map(|s| s.to_string()).collect(),
        lines,
    })
}

/// Language codes present in `dir` under the first pattern of `layout` that matches any
/// file, sorted.
pub fn list_languages(dir: impl AsRef<Path>, layout: &FloresLayout) -> Result<Vec<String>> {
    let dir = dir.as_ref();
    layout.validate()?;
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false)
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    for p in &layout.patterns {
        let (pre, suf) = FloresLayout::split(p);
        let mut langs: Vec<String> = names
            .iter()
            .filter(|n| n.len() > pre.len() + suf.len() && n.starts_with(pre) && n.ends_with(suf))
            .map(|n| n[pre.len()..n.len() - suf.len()].to_string())
            .collect();
        if !langs.is_empty() {
            langs.sort();
            return Ok(langs);
        }
    }
    Ok(vec![])
}

/// Reads every language found in `dir` (see [`list_languages`]); an error if none is found.
pub fn read_flores_all(dir: impl AsRef<Path>, layout: &FloresLayout) -> Result<ParallelText> {
    let dir = dir.as_ref();
    let langs = list_languages(dir, layout)?;
    if langs.is_empty() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no file matching {:?}", layout.patterns),
            ),
        ));
    }
    let refs: Vec<&str> = langs.iter().map(String::as_str).collect();
    // Read with only the pattern that matched, so `.dev` and `.devtest` never mix.
    let (pre, suf) = layout
        .patterns
        .iter()
        .map(|p| FloresLayout::split(p))
        .find(|(pre, suf)| dir.join(format!("{pre}{}{suf}", langs[0])).is_file())
        .unwrap_or(("", ""));
    read_flores_with(
        dir,
        &refs,
        &FloresLayout::single(&format!("{pre}{{lang}}{suf}")),
    )
}

/// Writes `text` as one file per language (`pattern`, e.g. `"{lang}.devtest"`), creating `dir`.
/// Each file is written to a temporary name and renamed, so readers never see half a file.
pub fn write_parallel(dir: impl AsRef<Path>, text: &ParallelText, pattern: &str) -> Result<()> {
    let dir = dir.as_ref();
    FloresLayout::single(pattern).validate()?;
    ensure!(
        text.langs.len() == text.lines.len(),
        "write_parallel: {} language codes for {} line lists",
        text.langs.len(),
        text.lines.len()
    );
    let n = text.len();
    for (lang, lines) in text.langs.iter().zip(&text.lines) {
        validate_lang(lang)?;
        if lines.len() != n {
            return Err(Error::Shape(format!(
                "write_parallel: {} has {} lines but {} has {n}",
                lang,
                lines.len(),
                text.langs[0]
            )));
        }
        if let Some(i) = lines.iter().position(|l| l.contains(['\n', '\r'])) {
            return Err(Error::InvalidInput(format!(
                "write_parallel: line {i} of {lang} contains a line break"
            )));
        }
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (lang, lines) in text.langs.iter().zip(&text.lines) {
        let path = dir.join(FloresLayout::file_name(pattern, lang));
        let tmp = dir.join(format!(".{}.tmp", FloresLayout::file_name(pattern, lang)));
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(fs::File::create(&tmp)?);
            for l in lines {
                f.write_all(l.as_bytes())?;
                f.write_all(b"\n")?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()
        };
        write().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ember-flores-unit-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn crlf_and_bom_are_stripped() {
        let d = tmpdir("crlf");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a.txt"), "\u{feff}x y\r\nz\r\n").unwrap();
        let t = read_flores_with(&d, &["a"], &FloresLayout::single("{lang}.txt")).unwrap();
        assert_eq!(t.lines[0], vec!["x y", "z"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_pattern() {
        assert!(FloresLayout::single("nolang").validate().is_err());
        assert!(FloresLayout::single("a/{lang}").validate().is_err());
    }
}

//! An eval's plan (every size and hyper-parameter) as data: defaults per [`Scale`], a TOML or
//! JSON file on top, then `--set key=value` overrides, then validation.
//!
//! Overrides are merged into the default plan's JSON form, so an unknown key or a value of
//! the wrong kind is caught with the key's dotted path in the message, before any work starts.

use super::Scale;
use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// The sizes and hyper-parameters of one eval, with a default per scale.
///
/// `Serialize` writes it into `plan.json` and the report; `Deserialize` reads a user's file.
pub trait Plan: Serialize + DeserializeOwned + Clone {
    /// The default plan at `scale`.
    fn for_scale(scale: Scale) -> Self;

    /// Checks every value before anything is built; the error names the offending key.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The default plan at `scale`, overlaid with the file at `config` (if any) and then with
/// `overrides` (`key=value`, dotted keys for nested entries), then validated.
pub fn resolve<P: Plan>(scale: Scale, config: Option<&Path>, overrides: &[String]) -> Result<P> {
    let mut value = to_value(&P::for_scale(scale))?;
    if let Some(path) = config {
        let file = read_config(path)?;
        merge(&mut value, file, "", &path.display().to_string())?;
    }
    for o in overrides {
        let (key, raw) = o
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--set {o}: expected KEY=VALUE")))?;
        set(
            &mut value,
            key.trim(),
            parse_value(raw.trim()),
            &format!("--set {o}"),
        )?;
    }
    let plan: P = serde_json::from_value(value)
        .map_err(|e| Error::Config(format!("plan does not fit its schema: {e}")))?;
    plan.validate()?;
    Ok(plan)
}

/// The plan as JSON, for `plan.json` and the report.
pub fn to_value<P: Serialize>(plan: &P) -> Result<Value> {
    serde_json::to_value(plan).map_err(|e| Error::Config(format!("plan is not serialisable: {e}")))
}

/// Returns [`Error::Config`] naming `key` unless `cond` holds; for [`Plan::validate`].
pub fn check(cond: bool, key: &str, what: impl std::fmt::Display) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::Config(format!("`{key}` {what}")))
    }
}

/// A TOML (`.toml`) or JSON (anything else) file holding a table of plan entries.
fn read_config(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: Value = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|e| Error::format(path, e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))?
    };
    if !value.is_object() {
        return Err(Error::format(path, "expected a table of plan entries"));
    }
    Ok(value)
}

/// `--set` values: JSON when they parse as JSON (`3`, `0.5`, `true`, `[1, 2]`, `"x"`),
/// otherwise the bare text as a string.
fn parse_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Overlays `new` on `base` key by key; every key must already exist in `base`.
fn merge(base: &mut Value, new: Value, prefix: &str, source: &str) -> Result<()> {
    match new {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                set(base, &key, v, source)?;
            }
            Ok(())
        }
        other => set(base, prefix, other, source),
    }
}

/// Sets the entry at dotted `key`; nested tables are merged entry by entry.
fn set(base: &mut Value, key: &str, new: Value, source: &str) -> Result<()> {
    let mut slot = &mut *base;
    for part in key.split('.') {
        let known = known_keys(slot);
        slot = slot
            .as_object_mut()
            .and_then(|m| m.get_mut(part))
            .ok_or_else(|| {
                Error::Config(format!("{source}: unknown key `{key}` (known: {known})"))
            })?;
    }
    if slot.is_object() && new.is_object() {
        return merge(base, new, key, source);
    }
    if !same_kind(slot, &new) {
        return Err(Error::Config(format!(
            "{source}: `{key}` expects {}, got {}",
            kind(slot),
            kind(&new)
        )));
    }
    *slot = new;
    Ok(())
}

fn known_keys(v: &Value) -> String {
    match v.as_object() {
        Some(m) => m.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
        None => "none: not a table".into(),
    }
}

/// A `null` default (an unset option) accepts anything; an integer accepts only integers.
fn same_kind(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Null, _) | (_, Value::Null) => true,
        (Value::Number(a), Value::Number(b)) => a.is_f64() || !b.is_f64(),
        _ => std::mem::discriminant(old) == std::mem::discriminant(new),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true or false",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Inner {
        d_model: usize,
        dropout: f64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Demo {
        steps: usize,
        lr: f64,
        name: String,
        model: Inner,
        limit: Option<usize>,
    }

    impl Plan for Demo {
        fn for_scale(scale: Scale) -> Self {
            Demo {
                steps: if scale == Scale::Quick { 10 } else { 100 },
                lr: 1e-3,
                name: "x".into(),
                model: Inner {
                    d_model: 8,
                    dropout: 0.1,
                },
                limit: None,
            }
        }
        fn validate(&self) -> Result<()> {
            check(self.steps > 0, "steps", "must be at least 1")
        }
    }

    fn sets(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn overrides_apply_by_dotted_key() {
        let p: Demo = resolve(
            Scale::Full,
            None,
            &sets(&[
                "steps=7",
                "lr=0.5",
                "model.d_model=16",
                "name=abc",
                "limit=3",
            ]),
        )
        .unwrap();
        assert_eq!(p.steps, 7);
        assert_eq!(p.lr, 0.5);
        assert_eq!(p.model.d_model, 16);
        assert_eq!(p.model.dropout, 0.1);
        assert_eq!(p.name, "abc");
        assert_eq!(p.limit, Some(3));
    }

    #[test]
    fn integer_given_for_float_is_accepted() {
        let p: Demo = resolve(Scale::Quick, None, &sets(&["lr=1"])).unwrap();
        assert_eq!(p.lr, 1.0);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["stpes=3"])).unwrap_err();
        assert!(e.to_string().contains("unknown key `stpes`"), "{e}");
        assert!(e.to_string().contains("steps"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["steps=many"])).unwrap_err();
        assert!(e.to_string().contains("`steps` expects an integer"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["steps=0.5"])).unwrap_err();
        assert!(e.to_string().contains("expects an integer"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["steps=-3"])).unwrap_err();
        assert!(e.to_string().contains("schema"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["steps=0"])).unwrap_err();
        assert!(e.to_string().contains("`steps` must be at least 1"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["steps"])).unwrap_err();
        assert!(e.to_string().contains("KEY=VALUE"), "{e}");
        let e = resolve::<Demo>(Scale::Quick, None, &sets(&["model.width=3"])).unwrap_err();
        assert!(e.to_string().contains("d_model"), "{e}");
    }

    #[test]
    fn toml_and_json_files_overlay_the_defaults() {
        let dir = std::env::temp_dir().join(format!("ember-plan-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml_path = dir.join("plan.toml");
        std::fs::write(&toml_path, "steps = 5\n[model]\nd_model = 32\n").unwrap();
        let p: Demo = resolve(Scale::Quick, Some(&toml_path), &sets(&["steps=6"])).unwrap();
        assert_eq!((p.steps, p.model.d_model, p.model.dropout), (6, 32, 0.1));

        let json_path = dir.join("plan.json");
        std::fs::write(&json_path, serde_json::to_string(&p).unwrap()).unwrap();
        let back: Demo = resolve(Scale::Full, Some(&json_path), &[]).unwrap();
        assert_eq!(back, p, "a written plan reads back as the same plan");

        std::fs::write(&toml_path, "stepz = 5\n").unwrap();
        let e = resolve::<Demo>(Scale::Quick, Some(&toml_path), &[]).unwrap_err();
        assert!(e.to_string().contains("unknown key `stepz`"), "{e}");
        std::fs::write(&toml_path, "steps = \n").unwrap();
        let e = resolve::<Demo>(Scale::Quick, Some(&toml_path), &[]).unwrap_err();
        assert!(e.to_string().contains("plan.toml"), "{e}");
    }
}

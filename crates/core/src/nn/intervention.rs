//! Neuron interventions applied inside a Transformer's MLP.
//!
//! Activation-steering papers (e.g. "finding experts", P3/P4) force chosen MLP units to a
//! value, or scale them, and look at what changes downstream. A plan maps layer index to a
//! list of `(unit, edit)`; it is compiled once into a per-layer affine map
//! `a' = a * scale + shift` over the `d_ff` units, which is cheap and differentiable.

use crate::error::{Error, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What to do to one MLP unit (post-nonlinearity activation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnitEdit {
    /// Force the activation to this value at every position.
    Set(f32),
    /// Multiply the activation by this factor.
    Scale(f32),
}

/// Where inside a block's MLP a unit lives (for captures and edits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Site {
    /// Output of the first (up) projection, before the nonlinearity: `d_ff` units (GPT-2
    /// `c_fc`, Llama `up_proj`, BERT `intermediate.dense`).
    MlpPre,
    /// Post-nonlinearity units, the input of the down projection: `d_ff` units.
    MlpAct,
    /// Output of the down projection, before the residual add: `d_model` units.
    MlpOut,
}

impl Site {
    /// Number of units of this site in a model with the given widths.
    pub fn width(self, d_ff: usize, d_model: usize) -> usize {
        match self {
            Site::MlpPre | Site::MlpAct => d_ff,
            Site::MlpOut => d_model,
        }
    }
}

/// Which sequence positions the edits of a plan apply to (absolute positions, so a window
/// keeps its meaning under a KV cache where each call covers only new tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EditPositions {
    /// Every position (the finding-experts default).
    #[default]
    All,
    /// Positions `from..until` (`until = None`: to the end). A prompt of length `p` is
    /// `Range { from: 0, until: Some(p) }`; the generated tokens are `Range { from: p, until: None }`.
    Range {
        /// First edited position.
        from: usize,
        /// One past the last edited position, or `None` for no end.
        until: Option<usize>,
    },
}

impl EditPositions {
    /// Whether absolute position `t` is edited.
    pub fn contains(&self, t: usize) -> bool {
        match *self {
            EditPositions::All => true,
            EditPositions::Range { from, until } => t >= from && until.is_none_or(|u| t < u),
        }
    }

    fn is_all(&self) -> bool {
        *self == EditPositions::All
    }
}

/// A per-layer intervention plan: `layer -> [(unit, edit)]` per [`Site`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    /// Edits of the post-nonlinearity units ([`Site::MlpAct`]) per layer index (0-based).
    pub layers: BTreeMap<usize, Vec<(usize, UnitEdit)>>,
    /// Edits of the pre-nonlinearity up-projection outputs ([`Site::MlpPre`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pre: BTreeMap<usize, Vec<(usize, UnitEdit)>>,
    /// Edits of the down-projection outputs ([`Site::MlpOut`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub out: BTreeMap<usize, Vec<(usize, UnitEdit)>>,
    /// The positions every edit applies to.
    #[serde(default, skip_serializing_if = "EditPositions::is_all")]
    pub positions: EditPositions,
}

/// One site's compiled edit `x' = x * scale + shift`, broadcast as `[1, 1, F]` (every
/// position) or `[1, T, F]` (a position window).
#[derive(Debug, Clone)]
pub struct SiteEdit {
    /// Multiplier.
    pub scale: Tensor<3>,
    /// Offset.
    pub shift: Tensor<3>,
}

impl SiteEdit {
    /// Applies the edit to `[B, T, F]`. An every-position edit runs on the `[B·T, F]` view
    /// with `[1, F]` maps (the same elementwise products and sums, a cheaper broadcast).
    pub fn apply(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, f] = x.dims();
        if self.scale.dims()[1] == 1 {
            let s: Tensor<2> = self.scale.clone().reshape([1, f]);
            let h: Tensor<2> = self.shift.clone().reshape([1, f]);
            (x.reshape([b * t, f]) * s + h).reshape([b, t, f])
        } else {
            x * self.scale.clone() + self.shift.clone()
        }
    }
}

/// The compiled edits of one layer, one optional [`SiteEdit`] per [`Site`].
#[derive(Debug, Clone, Default)]
pub struct LayerEdit {
    /// Edit of [`Site::MlpPre`].
    pub pre: Option<SiteEdit>,
    /// Edit of [`Site::MlpAct`].
    pub act: Option<SiteEdit>,
    /// Edit of [`Site::MlpOut`].
    pub out: Option<SiteEdit>,
}

impl LayerEdit {
    /// Applies the edit of `site` (if any) to `x`, returning the edited tensor and, when
    /// `keep`, the unedited one (the capture).
    pub fn site(&self, site: Site, x: Tensor<3>, keep: bool) -> (Tensor<3>, Option<Tensor<3>>) {
        let e = match site {
            Site::MlpPre => &self.pre,
            Site::MlpAct => &self.act,
            Site::MlpOut => &self.out,
        };
        match e {
            Some(e) => {
                let kept = keep.then(|| x.clone());
                (e.apply(x), kept)
            }
            None => {
                let kept = keep.then(|| x.clone());
                (x, kept)
            }
        }
    }
}

impl Intervention {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an edit of `unit` in `layer`. A later edit of the same unit replaces an earlier one.
    pub fn with(mut self, layer: usize, unit: usize, edit: UnitEdit) -> Self {
        self.layers.entry(layer).or_default().push((unit, edit));
        self
    }

    /// Force each of `units` in `layer` to `value`.
    pub fn set_units(mut self, layer: usize, units: &[usize], value: f32) -> Self {
        let e = self.layers.entry(layer).or_default();
        e.extend(units.iter().map(|&u| (u, UnitEdit::Set(value))));
        self
    }

    /// Add an edit of `unit` of `site` in `layer`.
    pub fn with_at(mut self, site: Site, layer: usize, unit: usize, edit: UnitEdit) -> Self {
        self.site_mut(site)
            .entry(layer)
            .or_default()
            .push((unit, edit));
        self
    }

    /// Restrict every edit to `positions`.
    pub fn with_positions(mut self, positions: EditPositions) -> Self {
        self.positions = positions;
        self
    }

    /// The edits of one site.
    pub fn site_edits(&self, site: Site) -> &BTreeMap<usize, Vec<(usize, UnitEdit)>> {
        match site {
            Site::MlpPre => &self.pre,
            Site::MlpAct => &self.layers,
            Site::MlpOut => &self.out,
        }
    }

    fn site_mut(&mut self, site: Site) -> &mut BTreeMap<usize, Vec<(usize, UnitEdit)>> {
        match site {
            Site::MlpPre => &mut self.pre,
            Site::MlpAct => &mut self.layers,
            Site::MlpOut => &mut self.out,
        }
    }

    /// Whether the plan edits nothing.
    pub fn is_empty(&self) -> bool {
        [&self.layers, &self.pre, &self.out]
            .iter()
            .all(|m| m.values().all(|v| v.is_empty()))
    }

    /// [`validate`](Self::validate) for every site, with the residual width for
    /// [`Site::MlpOut`]; also rejects an empty position window.
    pub fn validate_sites(&self, n_layers: usize, d_ff: usize, d_model: usize) -> Result<()> {
        for site in [Site::MlpPre, Site::MlpAct, Site::MlpOut] {
            check_edits(
                self.site_edits(site),
                site,
                n_layers,
                site.width(d_ff, d_model),
            )?;
        }
        if let EditPositions::Range {
            from,
            until: Some(u),
        } = self.positions
            && u <= from
        {
            return Err(Error::InvalidInput(format!(
                "intervention positions {from}..{u} are empty"
            )));
        }
        Ok(())
    }

    /// Check every index of the [`Site::MlpAct`] edits against the model's shape (use
    /// [`validate_sites`](Self::validate_sites) for plans that edit other sites).
    pub fn validate(&self, n_layers: usize, d_ff: usize) -> Result<()> {
        check_edits(&self.layers, Site::MlpAct, n_layers, d_ff)
    }

    /// The affine map `(scale, shift)` of one layer as `[d_ff]` vectors, or `None` if untouched.
    pub(crate) fn layer_affine(&self, layer: usize, d_ff: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        self.site_affine(Site::MlpAct, layer, d_ff)
    }

    /// The affine map of one site of one layer as `[width]` vectors, or `None` if untouched.
    fn site_affine(&self, site: Site, layer: usize, width: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let edits = self
            .site_edits(site)
            .get(&layer)
            .filter(|e| !e.is_empty())?;
        let mut scale = vec![1.0f32; width];
        let mut shift = vec![0.0f32; width];
        for &(unit, edit) in edits {
            match edit {
                UnitEdit::Set(v) => {
                    scale[unit] = 0.0;
                    shift[unit] = v;
                }
                UnitEdit::Scale(f) => {
                    scale[unit] = f;
                    shift[unit] = 0.0;
                }
            }
        }
        Some((scale, shift))
    }

    /// Compile the [`Site::MlpAct`] edits to tensors on `device`, one entry per layer.
    pub(crate) fn compile(
        &self,
        n_layers: usize,
        d_ff: usize,
        device: &Device,
    ) -> Vec<Option<(Tensor<1>, Tensor<1>)>> {
        (0..n_layers)
            .map(|l| {
                self.layer_affine(l, d_ff).map(|(s, b)| {
                    (
                        Tensor::from_data(TensorData::new(s, [d_ff]), device),
                        Tensor::from_data(TensorData::new(b, [d_ff]), device),
                    )
                })
            })
            .collect()
    }

    /// Compile to per-layer [`LayerEdit`]s on `device` for a call covering absolute positions
    /// `past..past + t`. With [`EditPositions::All`] each edit is `[1, 1, F]`; a window gives
    /// `[1, t, F]` maps that are the identity outside it. Validate first.
    pub fn compile_layers(
        &self,
        n_layers: usize,
        d_ff: usize,
        d_model: usize,
        past: usize,
        t: usize,
        device: &Device,
    ) -> Vec<LayerEdit> {
        let inside: Vec<bool> = (past..past + t)
            .map(|p| self.positions.contains(p))
            .collect();
        let windowed = !self.positions.is_all();
        let one = |site: Site, layer: usize| -> Option<SiteEdit> {
            let w = site.width(d_ff, d_model);
            let (s, b) = self.site_affine(site, layer, w)?;
            let (s, b, tt) = if windowed {
                let mut ss = Vec::with_capacity(t * w);
                let mut bb = Vec::with_capacity(t * w);
                for &on in &inside {
                    if on {
                        ss.extend_from_slice(&s);
                        bb.extend_from_slice(&b);
                    } else {
                        ss.extend(std::iter::repeat_n(1.0f32, w));
                        bb.extend(std::iter::repeat_n(0.0f32, w));
                    }
                }
                (ss, bb, t)
            } else {
                (s, b, 1)
            };
            Some(SiteEdit {
                scale: Tensor::<1>::from_data(TensorData::new(s, [tt * w]), device)
                    .reshape([1, tt, w]),
                shift: Tensor::<1>::from_data(TensorData::new(b, [tt * w]), device)
                    .reshape([1, tt, w]),
            })
        };
        (0..n_layers)
            .map(|l| LayerEdit {
                pre: one(Site::MlpPre, l),
                act: one(Site::MlpAct, l),
                out: one(Site::MlpOut, l),
            })
            .collect()
    }
}

/// Range and finiteness checks of one site's edits.
fn check_edits(
    map: &BTreeMap<usize, Vec<(usize, UnitEdit)>>,
    site: Site,
    n_layers: usize,
    width: usize,
) -> Result<()> {
    let what = match site {
        Site::MlpPre => "d_ff (MlpPre)",
        Site::MlpAct => "d_ff",
        Site::MlpOut => "d_model (MlpOut)",
    };
    for (&layer, edits) in map {
        if layer >= n_layers {
            return Err(Error::InvalidInput(format!(
                "intervention on layer {layer}, but the model has {n_layers} layers"
            )));
        }
        for &(unit, edit) in edits {
            if unit >= width {
                return Err(Error::InvalidInput(format!(
                    "intervention on unit {unit} of layer {layer}, but {what} = {width}"
                )));
            }
            let v = match edit {
                UnitEdit::Set(v) | UnitEdit::Scale(v) => v,
            };
            if !v.is_finite() {
                return Err(Error::NonFinite(format!(
                    "intervention value {v} for unit {unit} of layer {layer}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_map_set_and_scale() {
        let plan =
            Intervention::new()
                .with(1, 0, UnitEdit::Set(2.5))
                .with(1, 2, UnitEdit::Scale(0.5));
        assert!(plan.layer_affine(0, 4).is_none());
        let (s, b) = plan.layer_affine(1, 4).unwrap();
        assert_eq!(s, vec![0.0, 1.0, 0.5, 1.0]);
        assert_eq!(b, vec![2.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn sites_and_positions() {
        let plan = Intervention::new()
            .with_at(Site::MlpOut, 0, 5, UnitEdit::Set(1.0))
            .with_positions(EditPositions::Range {
                from: 2,
                until: None,
            });
        assert!(!plan.is_empty());
        assert!(plan.validate_sites(1, 4, 8).is_ok());
        let e = plan.validate_sites(1, 4, 4).unwrap_err().to_string();
        assert!(e.contains("unit 5") && e.contains("d_model"), "{e}");
        assert!(
            EditPositions::Range {
                from: 2,
                until: None
            }
            .contains(9)
        );
        assert!(
            !EditPositions::Range {
                from: 0,
                until: Some(2)
            }
            .contains(2)
        );
        let bad = Intervention::new().with_positions(EditPositions::Range {
            from: 3,
            until: Some(3),
        });
        assert!(bad.validate_sites(1, 4, 4).is_err());
        // serialisation of a plain plan is unchanged by the new fields
        let plain = Intervention::new().with(0, 1, UnitEdit::Scale(0.5));
        let j = serde_json::to_string(&plain).unwrap();
        assert!(!j.contains("positions") && !j.contains("pre"), "{j}");
    }

    #[test]
    fn validate_rejects_out_of_range_and_nan() {
        let plan = Intervention::new().with(3, 0, UnitEdit::Set(1.0));
        assert!(
            plan.validate(2, 8)
                .unwrap_err()
                .to_string()
                .contains("layer 3")
        );
        let plan = Intervention::new().with(0, 8, UnitEdit::Set(1.0));
        assert!(
            plan.validate(2, 8)
                .unwrap_err()
                .to_string()
                .contains("unit 8")
        );
        let plan = Intervention::new().with(0, 1, UnitEdit::Scale(f32::NAN));
        assert!(plan.validate(2, 8).is_err());
    }
}

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

/// A per-layer intervention plan: `layer -> [(unit, edit)]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    /// Edits per layer index (0-based).
    pub layers: BTreeMap<usize, Vec<(usize, UnitEdit)>>,
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

    /// Whether the plan edits nothing.
    pub fn is_empty(&self) -> bool {
        self.layers.values().all(|v| v.is_empty())
    }

    /// Check every index against the model's shape.
    pub fn validate(&self, n_layers: usize, d_ff: usize) -> Result<()> {
        for (&layer, edits) in &self.layers {
            if layer >= n_layers {
                return Err(Error::InvalidInput(format!(
                    "intervention on layer {layer}, but the model has {n_layers} layers"
                )));
            }
            for &(unit, edit) in edits {
                if unit >= d_ff {
                    return Err(Error::InvalidInput(format!(
                        "intervention on unit {unit} of layer {layer}, but d_ff = {d_ff}"
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

    /// The affine map `(scale, shift)` of one layer as `[d_ff]` vectors, or `None` if untouched.
    pub(crate) fn layer_affine(&self, layer: usize, d_ff: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let edits = self.layers.get(&layer).filter(|e| !e.is_empty())?;
        let mut scale = vec![1.0f32; d_ff];
        let mut shift = vec![0.0f32; d_ff];
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

    /// Compile to tensors on `device`, one entry per layer.
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

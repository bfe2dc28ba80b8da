//! The fine-tuning methods compared by the paper, as one value a command line, a config or
//! a loop over methods can carry: each maps to its [`Regularizer`] (LP-FT adds a linear-probe
//! stage before plain fine-tuning).

use crate::fda::FdaConfig;
use crate::proxy::ProxyLossConfig;
use crate::train::Regularizer;
use burn::prelude::*;
use ember_core::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A fine-tuning method and its regulariser weight `λ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FtMethod {
    /// Cross-entropy only.
    Naive,
    /// Linear probe on frozen features, then full fine-tuning at a tenth of the learning rate.
    LpFt,
    /// `λ Σ ‖θ − θ⁰‖²` over the encoder.
    L2Sp(f64),
    /// `λ mean ‖f(x) − f⁰(x)‖²`.
    Ldifs(f64),
    /// `λ L_FDA` on the batch's pre-trained kNN graph.
    Fda(f64),
    /// `λ L_ProxyFDA + L_proxy`, with a jointly trained proxy generator.
    ProxyFda(f64),
}

impl FtMethod {
    /// The method's family name, as the paper's tables write it.
    pub fn family(&self) -> &'static str {
        match self {
            FtMethod::Naive => "naive FT",
            FtMethod::LpFt => "LP-FT",
            FtMethod::L2Sp(_) => "L2-SP",
            FtMethod::Ldifs(_) => "LDIFS",
            FtMethod::Fda(_) => "FDA",
            FtMethod::ProxyFda(_) => "Proxy-FDA",
        }
    }

    /// The regulariser weight, for the methods that have one.
    pub fn lambda(&self) -> Option<f64> {
        match *self {
            FtMethod::L2Sp(l) | FtMethod::Ldifs(l) | FtMethod::Fda(l) | FtMethod::ProxyFda(l) => {
                Some(l)
            }
            _ => None,
        }
    }

    /// `family λ=…`, the label of tables and progress bars.
    pub fn label(&self) -> String {
        match self.lambda() {
            Some(l) => format!("{} λ={l}", self.family()),
            None => self.family().to_string(),
        }
    }

    /// A name safe for a directory (`proxy-fda_3`).
    pub fn slug(&self) -> String {
        let name = match self {
            FtMethod::Naive => "naive",
            FtMethod::LpFt => "lp-ft",
            FtMethod::L2Sp(_) => "l2sp",
            FtMethod::Ldifs(_) => "ldifs",
            FtMethod::Fda(_) => "fda",
            FtMethod::ProxyFda(_) => "proxy-fda",
        };
        match self.lambda() {
            Some(l) => format!("{name}_{l}"),
            None => name.to_string(),
        }
    }

    /// Whether the model needs a proxy generator.
    pub fn needs_generator(&self) -> bool {
        matches!(self, FtMethod::ProxyFda(_))
    }

    /// The fine-tuning step's regulariser (LP-FT's second stage is plain fine-tuning);
    /// `l2sp_ref` is [`crate::collect_params`] of the pre-trained encoder.
    pub fn regularizer<'a>(
        &self,
        fda: &FdaConfig,
        proxy: &ProxyLossConfig,
        l2sp_ref: &'a [(Tensor<1>, bool)],
    ) -> Regularizer<'a> {
        match *self {
            FtMethod::Naive | FtMethod::LpFt => Regularizer::None,
            FtMethod::L2Sp(lambda) => Regularizer::L2Sp {
                lambda,
                reference: l2sp_ref,
            },
            FtMethod::Ldifs(lambda) => Regularizer::Ldifs { lambda },
            FtMethod::Fda(lambda) => Regularizer::Fda { lambda, cfg: *fda },
            FtMethod::ProxyFda(lambda) => Regularizer::ProxyFda {
                lambda,
                cfg: *fda,
                proxy: *proxy,
            },
        }
    }
}

impl fmt::Display for FtMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lambda() {
            Some(l) => write!(f, "{}={l}", self.slug().split('_').next().unwrap_or("")),
            None => f.write_str(&self.slug()),
        }
    }
}

/// Parses `naive`, `lp-ft`, `l2sp=λ`, `ldifs=λ`, `fda=λ`, `proxy-fda=λ` (case-insensitive;
/// `λ` finite and ≥ 0), the form [`fmt::Display`] writes.
impl FromStr for FtMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, lambda) = match lower.split_once('=') {
            Some((n, l)) => {
                let v: f64 = l.trim().parse().map_err(|_| {
                    Error::InvalidInput(format!("method `{s}`: `{l}` is not a number"))
                })?;
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::InvalidInput(format!(
                        "method `{s}`: λ must be finite and ≥ 0"
                    )));
                }
                (n.trim().to_string(), Some(v))
            }
            None => (lower.clone(), None),
        };
        let need = |m: fn(f64) -> FtMethod| {
            lambda.map(m).ok_or_else(|| {
                Error::InvalidInput(format!("method `{s}` needs a weight, e.g. `{name}=1`"))
            })
        };
        let none = |m: FtMethod| match lambda {
            None => Ok(m),
            Some(_) => Err(Error::InvalidInput(format!(
                "method `{name}` takes no weight, got `{s}`"
            ))),
        };
        match name.as_str() {
            "naive" => none(FtMethod::Naive),
            "lp-ft" | "lpft" => none(FtMethod::LpFt),
            "l2sp" | "l2-sp" => need(FtMethod::L2Sp),
            "ldifs" => need(FtMethod::Ldifs),
            "fda" => need(FtMethod::Fda),
            "proxy-fda" | "proxyfda" => need(FtMethod::ProxyFda),
            _ => Err(Error::InvalidInput(format!(
                "unknown method `{s}`; known: naive, lp-ft, l2sp=λ, ldifs=λ, fda=λ, proxy-fda=λ"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for m in [
            FtMethod::Naive,
            FtMethod::LpFt,
            FtMethod::L2Sp(0.01),
            FtMethod::Ldifs(1.0),
            FtMethod::Fda(3.0),
            FtMethod::ProxyFda(10.0),
        ] {
            assert_eq!(m.to_string().parse::<FtMethod>().unwrap(), m, "{m}");
        }
        assert_eq!(
            "Proxy-FDA = 3".parse::<FtMethod>().unwrap(),
            FtMethod::ProxyFda(3.0)
        );
    }

    #[test]
    fn bad_methods_are_clear_errors() {
        for (s, want) in [
            ("fda", "needs a weight"),
            ("naive=1", "takes no weight"),
            ("fda=x", "not a number"),
            ("fda=-1", "≥ 0"),
            ("fda=inf", "finite"),
            ("sgd", "unknown method"),
        ] {
            let e = s.parse::<FtMethod>().unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}

//! The crate's two reproductions as library code, so tests can run them at tiny size; the
//! `eval-soup` and `eval-aux-lang` binaries are thin wrappers around them.
//!
//! * [`soup`]: paper P5, Soup-of-Experts specialists against a generic model and CRISP
//!   specialists on a synthetic multi-domain corpus ([`soup::SoupPlan`]);
//! * [`aux_lang`]: paper P6, auxiliary-language data for a data-constrained target language
//!   on a synthetic fact world ([`aux_lang::AuxLangPlan`]).
//!
//! Each module has a `run(&EvalRun, &Plan) -> Report` entry point and its stages as public
//! functions.

pub mod aux_lang;
pub mod soup;

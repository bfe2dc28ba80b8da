//! The seeded formant speech synthesiser: moved to [`ember_core::audio::formant`] (shared
//! with ember-spatial-audio) and re-exported here so existing paths keep working.

pub use ember_core::audio::formant::*;

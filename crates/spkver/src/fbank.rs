//! Log-mel filterbank front end: moved to [`ember_core::audio::fbank`] (shared with
//! ember-spatial-audio) and re-exported here so existing paths keep working.

pub use ember_core::audio::fbank::*;

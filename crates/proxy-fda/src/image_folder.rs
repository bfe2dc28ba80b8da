//! The ImageFolder reader, moved to ember-core ([`ember_core::data::image_folder`]) so that
//! every image paper crate reads folders the same way; re-exported here so this crate's API
//! stays.

pub use ember_core::data::image_folder::{ImageFolder, ImageFolderConfig, read_image_folder};

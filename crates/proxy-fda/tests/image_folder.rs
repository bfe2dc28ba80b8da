//! The synthetic renderer's file-name round trip through the ImageFolder reader (the reader's
//! own tests moved to ember-core with it: `crates/core/tests/image_folder.rs`).

use ember_proxy_fda::synth;
use ember_proxy_fda::{ImageFolderConfig, read_image_folder};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pfda-if-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn synthetic_dataset_round_trips_through_the_reader() {
    let root = tmp("synth");
    let paths = synth::write_dataset(&root, 24, 16, 7).unwrap();
    assert_eq!(paths.len(), 24);
    let f = read_image_folder(&root, &ImageFolderConfig::new(16)).unwrap();
    assert_eq!(f.len(), 24);
    assert_eq!(f.classes.len(), synth::N_SHAPES);
    for (p, &y) in f.paths.iter().zip(&f.labels) {
        let a = synth::parse_attrs(p).unwrap();
        assert_eq!(a.shape, y);
        assert!(a.color < synth::N_COLORS && a.texture < synth::N_TEXTURES);
    }
    assert!(synth::parse_attrs(std::path::Path::new("x/shape_1/c9_t0_z100_00001.png")).is_err());
    assert!(synth::parse_attrs(std::path::Path::new("x/other/c1_t0_z100_00001.png")).is_err());
}

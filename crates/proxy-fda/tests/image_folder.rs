//! The ImageFolder reader on PNG/JPEG files the test writes itself, plus the synthetic
//! renderer's file-name round trip.

use ember_proxy_fda::synth;
use ember_proxy_fda::{ImageFolderConfig, read_image_folder};
use image::{Rgb, RgbImage};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pfda-if-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn reads_png_and_jpeg_resized_and_normalised() {
    let root = tmp("ok");
    for (cls, color) in [("b_red", [255u8, 0, 0]), ("a_green", [0, 255, 0])] {
        std::fs::create_dir_all(root.join(cls)).unwrap();
        let img = RgbImage::from_pixel(8, 6, Rgb(color));
        img.save(root.join(cls).join("x.png")).unwrap();
        img.save(root.join(cls).join("y.jpg")).unwrap();
    }
    std::fs::write(root.join("a_green").join("notes.txt"), "ignored").unwrap();
    let f = read_image_folder(&root, &ImageFolderConfig::new(4)).unwrap();
    assert_eq!(f.classes, vec!["a_green", "b_red"]);
    assert_eq!(f.labels, vec![0, 0, 1, 1]);
    assert_eq!(f.pixels.len(), 4 * 3 * 16);
    // PNG of pure red: R channel (1 − 0.5)/0.25 = 2, G and B (0 − 0.5)/0.25 = −2.
    let red_png = &f.pixels[2 * 48..3 * 48];
    assert!(red_png[..16].iter().all(|v| (v - 2.0).abs() < 1e-6));
    assert!(red_png[16..].iter().all(|v| (v + 2.0).abs() < 1e-6));
    // JPEG is lossy: close to the same values.
    let red_jpg = &f.pixels[3 * 48..4 * 48];
    assert!(red_jpg[..16].iter().all(|v| (v - 2.0).abs() < 0.1));
    let dev = ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap();
    assert_eq!(f.batch(&[1, 3], &dev).dims(), [2, 3, 4, 4]);
}

#[test]
fn bad_trees_are_clear_errors() {
    let root = tmp("bad");
    let e = read_image_folder(root.join("missing"), &ImageFolderConfig::new(4)).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    let e = read_image_folder(&root, &ImageFolderConfig::new(4)).unwrap_err();
    assert!(e.to_string().contains("no class folders"), "{e}");
    std::fs::create_dir_all(root.join("c0")).unwrap();
    let e = read_image_folder(&root, &ImageFolderConfig::new(4)).unwrap_err();
    assert!(e.to_string().contains("no PNG/JPEG"), "{e}");
    std::fs::write(root.join("c0").join("broken.png"), b"not a png at all").unwrap();
    let e = read_image_folder(&root, &ImageFolderConfig::new(4)).unwrap_err();
    assert!(
        e.to_string().contains("broken.png") && e.to_string().contains("cannot decode"),
        "{e}"
    );
    assert!(read_image_folder(&root, &ImageFolderConfig::new(0)).is_err());
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

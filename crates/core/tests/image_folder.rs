//! The ImageFolder reader on PNG/JPEG files the test writes itself (moved here from
//! ember-proxy-fda together with the reader).

use ember_core::data::image_folder::{ImageFolderConfig, read_image_folder};
use image::{Rgb, RgbImage};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("core-if-{name}-{}", std::process::id()));
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

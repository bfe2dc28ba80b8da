//! CLIP reproduces transformers' `CLIPModel` (5.17, PyTorch, float32) on every compiled
//! backend: every tensor in `clip/io.safetensors` within 1e-4, and the image preprocessing
//! stays close to `CLIPImageProcessor`'s PIL pipeline.

use burn::prelude::*;
use ember_core::backend::parity_devices;
use ember_core::pretrained::clip::open_image;
use ember_core::pretrained::{Clip, ClipImageProcessor, ClipVisionModel, Weights};

use super::{TOL, dir, worst};

struct Inputs {
    io: Weights,
    ids: Vec<i64>,
    ids_shape: Vec<usize>,
    pixels: Vec<f32>,
    pixel_shape: [usize; 4],
}

fn inputs() -> Inputs {
    let io = Weights::from_files(&[dir("clip").join("io.safetensors")]).unwrap();
    let (ids, ids_shape) = io.host_ints("input_ids").unwrap();
    let s = io.shape("pixel_values").unwrap().to_vec();
    let pixel_shape = [s[0], s[1], s[2], s[3]];
    let pixels = io.host("pixel_values", &pixel_shape).unwrap();
    Inputs {
        io,
        ids,
        ids_shape,
        pixels,
        pixel_shape,
    }
}

impl Inputs {
    fn tensors(&self, device: &Device) -> (Tensor<4>, Tensor<2, Int>) {
        let [b, t] = [self.ids_shape[0], self.ids_shape[1]];
        (
            Tensor::from_data(
                TensorData::new(self.pixels.clone(), self.pixel_shape),
                device,
            ),
            Tensor::<1, Int>::from_data(TensorData::new(self.ids.clone(), [b * t]), device)
                .reshape([b, t]),
        )
    }
}

#[test]
fn clip_matches_reference() {
    let inp = inputs();
    // The fixture's attention mask is all ones (no padding).
    let (mask, _) = inp.io.host_ints("attention_mask").unwrap();
    assert!(mask.iter().all(|&m| m == 1));
    for (kind, device) in parity_devices() {
        let model = Clip::from_dir(dir("clip"), &device).unwrap();
        let (pixels, ids) = inp.tensors(&device);
        let out = model.forward(pixels.clone(), ids.clone()).unwrap();
        assert_eq!(out.vision.hidden_states.len(), 3);
        assert_eq!(out.text.hidden_states.len(), 3);
        let lpt = out.logits_per_text.clone().transpose();
        let report = [
            (
                "text_embeds",
                worst(&out.text_embeds, &inp.io, "text_embeds"),
            ),
            (
                "image_embeds",
                worst(&out.image_embeds, &inp.io, "image_embeds"),
            ),
            (
                "logits_per_image",
                worst(&out.logits_per_image, &inp.io, "logits_per_image"),
            ),
            (
                "logits_per_text (transposed)",
                worst(&lpt, &inp.io, "logits_per_image"),
            ),
            (
                "text_last_hidden_state",
                worst(
                    &out.text.last_hidden_state,
                    &inp.io,
                    "text_last_hidden_state",
                ),
            ),
            (
                "vision_last_hidden_state",
                worst(
                    &out.vision.last_hidden_state,
                    &inp.io,
                    "vision_last_hidden_state",
                ),
            ),
            (
                "vision_pooler_output",
                worst(
                    &model.image_features(pixels).unwrap(),
                    &inp.io,
                    "vision_pooler_output",
                ),
            ),
        ];
        for (name, d) in &report {
            assert!(
                *d <= TOL,
                "clip on {kind:?}: {name} differs by {d:e}: {report:?}"
            );
        }
        // text_features is the unnormalised projection of the same pooled rows.
        let tf = model.text_features(ids).unwrap();
        let n = tf.clone().powi_scalar(2).sum_dim(1).sqrt();
        assert!(worst(&(tf / n), &inp.io, "text_embeds") <= TOL);
        eprintln!("clip {kind:?}: {report:?}");
    }
}

/// The image tower loaded alone equals the one inside the full model, and it trains: on an
/// autodiff device every loaded parameter gets a gradient.
#[test]
fn clip_vision_model_loads_alone_and_trains() {
    let inp = inputs();
    let device = Device::flex();
    let (pixels, _) = inp.tensors(&device);
    let vision = ClipVisionModel::from_dir(dir("clip"), &device).unwrap();
    assert_eq!(vision.embed_dim(), 16);
    let f = vision.image_features(pixels).unwrap();
    assert!(worst(&f, &inp.io, "vision_pooler_output") <= TOL);

    let ad = device.autodiff();
    let vision = ClipVisionModel::from_dir(dir("clip"), &ad).unwrap();
    let (pixels, _) = inp.tensors(&ad);
    let loss = vision.image_features(pixels).unwrap().powi_scalar(2).mean();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &vision);
    let n_params = vision.num_params();
    assert!(n_params > 0);
    let mut with_grad = 0;
    struct Count<'a>(&'a burn::optim::GradientsParams, &'a mut usize, usize);
    impl burn::module::ModuleVisitor for Count<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.2 += 1;
            if self.0.get::<D>(p.id).is_some() {
                *self.1 += 1;
            }
        }
    }
    let mut c = Count(&grads, &mut with_grad, 0);
    vision.visit(&mut c);
    let total = c.2;
    assert_eq!(with_grad, total, "parameters with a gradient");
}

/// `save_pretrained` writes a checkpoint that loads back to the same outputs.
#[test]
fn clip_round_trips_through_save_pretrained() {
    let inp = inputs();
    let device = Device::flex();
    let model = Clip::from_dir(dir("clip"), &device).unwrap();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("clip-roundtrip");
    model.save_pretrained(&out).unwrap();
    let back = Clip::from_dir(&out, &device).unwrap();
    let (pixels, ids) = inp.tensors(&device);
    let a = model.forward(pixels.clone(), ids.clone()).unwrap();
    let b = back.forward(pixels, ids).unwrap();
    let a = ember_core::ops::to_host(a.logits_per_image).unwrap();
    let b = ember_core::ops::to_host(b.logits_per_image).unwrap();
    assert_eq!(a, b);
    let src = Weights::from_dir(dir("clip")).unwrap();
    let dst = Weights::from_dir(&out).unwrap();
    assert_eq!(
        src.names().collect::<Vec<_>>(),
        dst.names().collect::<Vec<_>>()
    );
    assert_eq!(dst.shape("logit_scale"), Some(&[][..]));
}

/// Pooling reads the first end-of-text id (99 here), or the largest id when
/// `eos_token_id` is 2 (legacy OpenAI configs), as transformers does; right padding after
/// it changes nothing.
#[test]
fn clip_pools_at_the_end_of_text_token() {
    let device = Device::flex();
    let model = Clip::from_dir(dir("clip"), &device).unwrap();
    let t = model.text();
    assert_eq!(t.eos_positions(&[98, 5, 99, 7, 99, 99], 6), vec![2]);
    assert_eq!(t.eos_positions(&[98, 5, 7], 3), vec![0]);
    let ids = |v: Vec<i64>| {
        let n = v.len();
        Tensor::<1, Int>::from_data(TensorData::new(v, [n]), &device).reshape([1, n])
    };
    let short = model.text_features(ids(vec![98, 19, 5, 99])).unwrap();
    let padded = model
        .text_features(ids(vec![98, 19, 5, 99, 99, 99, 99]))
        .unwrap();
    let (a, b) = (
        ember_core::ops::to_host(short).unwrap(),
        ember_core::ops::to_host(padded).unwrap(),
    );
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(d <= 1e-6, "{d}");
}

/// Preprocessing against `scripts/gen_clip_preprocess.py` (PIL bicubic, as
/// `CLIPImageProcessor`): the output size and crop are exact; values differ only by
/// the resampler's rounding (see `clip_image`).
#[test]
fn clip_preprocessing_is_close_to_pil() {
    let d = dir("clip").join("preprocess");
    let want = Weights::from_files(&[d.join("expected.safetensors")]).unwrap();
    let proc = ClipImageProcessor::from_dir(&d).unwrap();
    assert_eq!(proc.crop, Some((24, 24)));
    let mut report = Vec::new();
    for name in want.names() {
        let img = open_image(d.join(format!("{name}.png"))).unwrap();
        let x = proc.preprocess(&[img], &Device::flex()).unwrap();
        let shape = want.shape(name).unwrap().to_vec();
        assert_eq!(x.dims().to_vec(), shape, "{name}");
        let got = ember_core::ops::to_host(x).unwrap();
        let exp = want.host(name, &shape).unwrap();
        let diffs: Vec<f32> = got.iter().zip(&exp).map(|(a, b)| (a - b).abs()).collect();
        let max = diffs.iter().copied().fold(0.0, f32::max);
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        report.push((name.to_string(), max, mean));
    }
    eprintln!("preprocessing vs PIL (max, mean abs): {report:?}");
    for (name, max, mean) in &report {
        // One 8-bit level is 1 / 255 / std ≈ 0.015 after normalisation.
        assert!(
            *max <= PIXEL_MAX && *mean <= PIXEL_MEAN,
            "{name}: {report:?}"
        );
    }
}

/// Measured (flex): smooth image exact; random noise, hard edges and upscaling up to 0.15
/// at single pixels (≈ 10 levels: PIL rounds to 8 bits between its passes and uses 22-bit
/// fixed-point weights), mean ≤ 0.005 (≈ 0.3 levels).
const PIXEL_MAX: f32 = 0.2;
const PIXEL_MEAN: f32 = 0.01;

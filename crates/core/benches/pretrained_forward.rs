//! Forward pass of a loaded bert-base-shaped checkpoint (random weights, written once to the
//! target dir): the hot path of every analysis that runs a pretrained encoder over a corpus.
//! The side-by-side comparison with candle-transformers is `scripts/bench_hf_forward.sh`
//! (figures in `docs/perf.md`); this bench tracks ember's own number across changes.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::path::PathBuf;

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
use ember_core::pretrained::PretrainedLm;
use ember_core::pretrained::random::{RandomShape, write_random_checkpoint};

fn bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-hf/bert-base");
    if !dir.join("model.safetensors").is_file() {
        write_random_checkpoint(RandomShape::BertBase, &dir, 0).expect("write checkpoint");
    }
    let device = Device::flex();
    let model = PretrainedLm::from_dir(&dir, &device).expect("load");
    let mut group = c.benchmark_group("pretrained_forward");
    group.sample_size(10);
    for (b, t) in [(1usize, 128usize), (8, 128)] {
        let ids: Vec<i64> = (0..b * t)
            .map(|k| ((k / t) * 7 + (k % t) * 13) as i64 % 30522)
            .collect();
        let ids =
            Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &device).reshape([b, t]);
        group.bench_function(format!("bert_base_b{b}_t{t}"), |bench| {
            bench.iter(|| {
                let out = model
                    .forward_with(
                        TransformerInput::Tokens(ids.clone()),
                        ForwardOptions::default(),
                    )
                    .expect("forward");
                ember_core::ops::to_host(out.last_hidden).expect("read back")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Audio front ends shared by the speech and sound crates (ember-spkver, ember-spatial-audio):
//! a log-mel filterbank ([`fbank`]) and a seeded formant speech synthesiser ([`formant`]).
//! Both moved here verbatim from ember-spkver, which re-exports them under its old paths.

pub mod fbank;
pub mod formant;

pub use fbank::{Fbank, FbankConfig, Features};
pub use formant::{CorpusConfig, SessionParams, SpeakerParams, generate_corpus, synthesize};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fbank_of_a_tone_peaks_at_its_band() {
        let cfg = FbankConfig::default();
        let fb = Fbank::new(cfg.clone()).unwrap();
        let x: Vec<f32> = (0..4000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin())
            .collect();
        let f = fb.compute(&x).unwrap();
        let row = f.frame(3);
        let best = (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        let filters = fbank::mel_filters(&cfg).unwrap();
        // The winning filter covers 1 kHz (bin 32 of a 512-point FFT at 16 kHz).
        assert!(filters[best][32] > 0.5, "band {best}");
        assert!(fb.compute(&x[..100]).is_err());
    }

    #[test]
    fn formant_speech_is_deterministic_and_finite() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let sp = SpeakerParams::sample(&mut rng);
        let se = SessionParams::sample(&mut rng, (20.0, 30.0));
        let a = synthesize(&sp, &se, 0.5, 16000, 7).unwrap();
        let b = synthesize(&sp, &se, 0.5, 16000, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 8000);
        assert!(a.iter().all(|v| v.is_finite()));
        assert!(synthesize(&sp, &se, 0.01, 16000, 7).is_err());
    }
}

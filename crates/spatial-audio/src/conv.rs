//! FFT convolution (`realfft`): one forward transform of the source shared by every channel
//! of the impulse response, zero-padded to the next power of two ≥ `n + m − 1`.

use ember_core::{Error, Result};
use realfft::RealFftPlanner;

/// Full linear convolution of `x` with each channel of `h` (`len = x.len() + h_c.len() − 1`,
/// every channel of `h` the same length), truncated to `out_len` samples if given.
pub fn convolve_channels(
    x: &[f32],
    h: &[Vec<f32>],
    out_len: Option<usize>,
) -> Result<Vec<Vec<f32>>> {
    if x.is_empty() || h.is_empty() || h.iter().any(|c| c.is_empty()) {
        return Err(Error::InvalidInput(
            "convolve: empty signal or filter".into(),
        ));
    }
    let m = h[0].len();
    if h.iter().any(|c| c.len() != m) {
        return Err(Error::Shape(
            "convolve: filter channels differ in length".into(),
        ));
    }
    if x.iter().chain(h.iter().flatten()).any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(
            "convolve: a sample is NaN or infinite".into(),
        ));
    }
    let full = x.len() + m - 1;
    let n = full.next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let fft_err = |e: realfft::FftError| Error::InvalidInput(format!("convolve: FFT failed: {e}"));
    let mut buf = fwd.make_input_vec();
    buf[..x.len()].copy_from_slice(x);
    let mut xs = fwd.make_output_vec();
    fwd.process(&mut buf, &mut xs).map_err(fft_err)?;
    let keep = out_len.unwrap_or(full).min(full);
    let scale = 1.0 / n as f32;
    h.iter()
        .map(|c| {
            let mut b = fwd.make_input_vec();
            b[..m].copy_from_slice(c);
            let mut hs = fwd.make_output_vec();
            fwd.process(&mut b, &mut hs).map_err(fft_err)?;
            for (a, s) in hs.iter_mut().zip(&xs) {
                *a *= *s;
            }
            // realfft wants real DC and Nyquist bins exactly.
            hs[0].im = 0.0;
            if let Some(l) = hs.last_mut() {
                l.im = 0.0;
            }
            let mut y = inv.make_output_vec();
            inv.process(&mut hs, &mut y).map_err(fft_err)?;
            y.truncate(keep);
            y.iter_mut().for_each(|v| *v *= scale);
            Ok(y)
        })
        .collect()
}

/// Direct-form convolution (the reference of the FFT path in tests).
pub fn convolve_direct(x: &[f32], h: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len() + h.len().max(1) - 1];
    for (i, a) in x.iter().enumerate() {
        for (j, b) in h.iter().enumerate() {
            y[i + j] += a * b;
        }
    }
    y
}

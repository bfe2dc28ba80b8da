//! Learning-rate schedules.

/// Linear warmup then cosine decay to a floor.
///
/// `lr(s) = peak·(s+1)/warmup` for `s < warmup`, then
/// `floor + ½(peak − floor)(1 + cos(π·p))` with `p = (s − warmup)/(total − warmup)` and
/// `floor = peak·min_ratio`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    peak: f64,
    warmup: usize,
    total: usize,
    min_ratio: f64,
}

impl LrSchedule {
    /// Warmup + cosine; see the type docs.
    pub fn warmup_cosine(peak: f64, warmup: usize, total: usize, min_ratio: f64) -> Self {
        Self {
            peak,
            warmup,
            total,
            min_ratio: min_ratio.clamp(0.0, 1.0),
        }
    }

    /// A constant learning rate.
    pub fn constant(lr: f64) -> Self {
        Self::warmup_cosine(lr, 0, 1, 1.0)
    }

    /// Learning rate at 0-based step `s`.
    pub fn lr(&self, s: usize) -> f64 {
        if s < self.warmup {
            return self.peak * (s + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let p = ((s - self.warmup) as f64 / span).min(1.0);
        let floor = self.peak * self.min_ratio;
        floor + 0.5 * (self.peak - floor) * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule::warmup_cosine(1.0, 10, 110, 0.1);
        assert!((s.lr(0) - 0.1).abs() < 1e-12);
        assert!((s.lr(9) - 1.0).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!((s.lr(60) - 0.55).abs() < 1e-12); // halfway: floor + (peak - floor)/2
        assert!((s.lr(110) - 0.1).abs() < 1e-12);
        assert!((s.lr(500) - 0.1).abs() < 1e-12);
        assert_eq!(LrSchedule::constant(0.3).lr(1000), 0.3);
    }
}

//! Latency samples and their percentiles, and the figures a run reports.

use serde::Serialize;

/// Latencies in milliseconds, kept whole so percentiles are exact.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, ms: f64) {
        self.0.push(ms);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile (nearest rank), or NaN without samples.
    pub fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NAN, f64::max)
    }
}

/// One figure of `bench/results.json`: a measurement and, when it has one, its peer.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// `value / baseline value` for rates; for latencies and sizes, `baseline / value`, so above
    /// 1 always means Baton did better.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            ratio: None,
        }
    }
}

/// Whether more of `unit` is better (rates) or less (latencies, bytes, seconds).
pub fn higher_is_better(unit: &str) -> bool {
    unit.ends_with("/s") || unit == "%"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.push(f64::from(ms));
        }
        assert_eq!(samples.percentile(50.0), 50.0);
        assert_eq!(samples.percentile(99.0), 99.0);
        assert_eq!(samples.percentile(100.0), 100.0);
        assert_eq!(samples.percentile(0.0), 1.0);
        assert_eq!(samples.max(), 100.0);
        assert!(Samples::default().percentile(50.0).is_nan());
    }

    #[test]
    fn rates_are_better_higher_and_latencies_lower() {
        assert!(higher_is_better("cycles/s"));
        assert!(!higher_is_better("ms"));
        assert!(!higher_is_better("KiB"));
    }
}

//! The key series, read from the key ring at each scrape: `tokenmint_signing_key_info`
//! and `tokenmint_signing_key_next_change_timestamp_seconds`.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::clock::Clock;
use crate::keys::KeyRing;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    kid: String,
    alg: &'static str,
    state: &'static str,
}

/// Reads the key set as of the scrape.
#[derive(Debug)]
pub(super) struct KeyMetrics {
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
}

impl KeyMetrics {
    pub(super) fn new(keys: Arc<KeyRing>, clock: Arc<dyn Clock>) -> Self {
        KeyMetrics { keys, clock }
    }
}

impl Collector for KeyMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = self.clock.now();
        let set = self.keys.current_at(now);
        let info = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "signing_key_info",
            "1 for each published key: its kid, algorithm and state (pending, signing, retired)",
            None,
            info.metric_type(),
        )?;
        for (key, state) in set.published.iter().zip(&set.states) {
            let labels =
                KeyLabels { kid: key.kid().to_owned(), alg: key.alg().as_str(), state: state.name() };
            info.encode(family.encode_family(&labels)?)?;
        }
        if let Some(at) = set.signing_changes_at {
            let seconds = at.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
            let gauge = ConstGauge::new(seconds);
            let unit = Unit::Other("timestamp_seconds".into());
            let metric = encoder.encode_descriptor(
                "signing_key_next_change",
                "When the schedule next hands signing to another key (a pending key activates, or the signing \
                 key's rotation period ends); absent when neither is due",
                Some(&unit),
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

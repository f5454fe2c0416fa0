//! The process series Prometheus' client libraries all export, read from `/proc` at each
//! scrape: `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
//! `process_virtual_memory_bytes`, `process_start_time_seconds`. Off Linux there are none.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// Reads `/proc/self` at each scrape.
#[derive(Debug)]
pub(super) struct ProcessMetrics;

#[cfg(target_os = "linux")]
impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::registry::Unit;

        // A process whose /proc cannot be read (a hardened sandbox) reports nothing.
        let Ok(me) = procfs::process::Process::myself() else { return Ok(()) };
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = me.stat() {
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            let metric = encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?;
            cpu.encode(metric)?;
            let rss = stat.rss.saturating_mul(procfs::page_size());
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                rss as f64,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                stat.vsize as f64,
            )?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = boot as f64 + stat.starttime as f64 / ticks;
                gauge(
                    &mut encoder,
                    "process_start_time",
                    "Start time since the Unix epoch",
                    Some(Unit::Seconds),
                    start,
                )?;
            }
        }
        if let Ok(fds) = me.fd_count() {
            gauge(&mut encoder, "process_open_fds", "Open file descriptors", None, fds as f64)?;
        }
        Ok(())
    }
}

/// One gauge.
#[cfg(target_os = "linux")]
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<prometheus_client::registry::Unit>,
    value: f64,
) -> Result<(), std::fmt::Error> {
    use prometheus_client::encoding::EncodeMetric;
    let g = prometheus_client::metrics::gauge::ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?;
    g.encode(metric)
}

#[cfg(not(target_os = "linux"))]
impl Collector for ProcessMetrics {
    fn encode(&self, _encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

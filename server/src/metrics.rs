//! Prometheus metrics (`GET /metrics`, OpenMetrics text). Only counts and
//! gauges of the whole service: no per-user or per-connection label, no
//! identifier, nothing personal. The other rooms hold an `Arc<Metrics>`
//! (in [`crate::Services`]) and update its fields.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A closed set of label values, written snake_case.
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_enum!(
    /// A staff member's shift state.
    ShiftState {
        ClockedIn => "clocked_in",
        Available => "available",
        OnBreak => "on_break",
        ClockedOut => "clocked_out",
    }
);

label_enum!(
    /// What became of an intake request.
    IntakeOutcome {
        Accepted => "accepted",
        RateLimited => "rate_limited",
        QueueFull => "queue_full",
        PowRequired => "pow_required",
        Closed => "closed",
    }
);

label_enum!(
    /// What became of a staff login.
    LoginOutcome {
        Success => "success",
        InvalidCredentials => "invalid_credentials",
        Throttled => "throttled",
        Busy => "busy",
        Error => "error",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ShiftLabels {
    pub state: ShiftState,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IntakeLabels {
    pub outcome: IntakeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LoginLabels {
    pub outcome: LoginOutcome,
}

/// Every metric the server exports. Fields are cheap to update from any
/// thread (atomics).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections_open: Gauge,
    /// Tickets waiting in the intake queue.
    pub queue_depth: Gauge,
    /// Seconds the oldest waiting ticket has waited.
    pub longest_wait_seconds: Gauge,
    /// Staff members by shift state.
    pub staff_on_shift: Family<ShiftLabels, Gauge>,
    /// Intake requests by outcome.
    pub intake_requests_total: Family<IntakeLabels, Counter>,
    /// Application messages accepted for delivery.
    pub messages_accepted_total: Counter,
    /// Commits accepted.
    pub commits_accepted_total: Counter,
    /// Staff logins by outcome.
    pub logins_total: Family<LoginLabels, Counter>,
    /// Connections closed as slow consumers (4002): their send queue
    /// filled or a write stalled past `write_stall_secs`.
    pub slow_consumers_closed_total: Counter,
    /// WebSocket upgrades refused (HTTP 429) because their network had
    /// `intake.max_connections_per_source` connections open.
    pub connections_over_source_cap_total: Counter,
    /// Intake requests and connections from sources the limiters could not
    /// track (`intake.max_tracked_sources` full), charged to the one shared
    /// overflow bucket.
    pub source_overflow_total: Counter,
    /// Anonymous writes refused by a byte quota (`quota_exceeded`).
    pub quota_refusals_total: Counter,
    /// Writes refused below the free-space floor (`storage_full`): the
    /// disk needs attention.
    pub storage_full_refusals_total: Counter,
    /// Times written data was made durable (flush, then fsync/fdatasync of
    /// sled's files): one per group-commit round that acknowledged writes.
    /// Copied from storage's own count at each scrape.
    durable_syncs_total: Counter,
    durable_syncs_source: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("parasol");
        let m = Metrics {
            connections_open: Gauge::default(),
            queue_depth: Gauge::default(),
            longest_wait_seconds: Gauge::default(),
            staff_on_shift: Family::default(),
            intake_requests_total: Family::default(),
            messages_accepted_total: Counter::default(),
            commits_accepted_total: Counter::default(),
            logins_total: Family::default(),
            slow_consumers_closed_total: Counter::default(),
            connections_over_source_cap_total: Counter::default(),
            quota_refusals_total: Counter::default(),
            storage_full_refusals_total: Counter::default(),
            source_overflow_total: Counter::default(),
            durable_syncs_total: Counter::default(),
            durable_syncs_source: std::sync::OnceLock::new(),
            registry: Registry::default(),
        };
        registry.register(
            "connections_open",
            "Open WebSocket connections",
            m.connections_open.clone(),
        );
        registry.register(
            "queue_depth",
            "Tickets waiting in the intake queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "longest_wait_seconds",
            "Seconds the oldest waiting ticket has waited",
            m.longest_wait_seconds.clone(),
        );
        registry.register(
            "staff_on_shift",
            "Staff members by shift state",
            m.staff_on_shift.clone(),
        );
        registry.register(
            "intake_requests",
            "Intake requests by outcome",
            m.intake_requests_total.clone(),
        );
        registry.register(
            "messages_accepted",
            "Application messages accepted",
            m.messages_accepted_total.clone(),
        );
        registry.register("commits_accepted", "Commits accepted", m.commits_accepted_total.clone());
        registry.register("logins", "Staff logins by outcome", m.logins_total.clone());
        registry.register(
            "slow_consumers_closed",
            "Connections closed as slow consumers (4002)",
            m.slow_consumers_closed_total.clone(),
        );
        registry.register(
            "connections_over_source_cap",
            "WebSocket upgrades refused: their network had its cap of connections open",
            m.connections_over_source_cap_total.clone(),
        );
        registry.register(
            "source_overflow",
            "Intake requests and connections charged to the shared overflow bucket (source limiters full)",
            m.source_overflow_total.clone(),
        );
        registry.register(
            "quota_refusals",
            "Anonymous writes refused by a byte quota",
            m.quota_refusals_total.clone(),
        );
        registry.register(
            "storage_full_refusals",
            "Writes refused below the free-space floor (the disk needs attention)",
            m.storage_full_refusals_total.clone(),
        );
        registry.register(
            "durable_syncs",
            "Times written data was made durable (flush, then fsync of sled's files) before acknowledging",
            m.durable_syncs_total.clone(),
        );
        // Every label value exists from the start, so dashboards see zeros.
        for &state in ShiftState::ALL {
            let _ = m.staff_on_shift.get_or_create(&ShiftLabels { state });
        }
        for &outcome in IntakeOutcome::ALL {
            let _ = m.intake_requests_total.get_or_create(&IntakeLabels { outcome });
        }
        for &outcome in LoginOutcome::ALL {
            let _ = m.logins_total.get_or_create(&LoginLabels { outcome });
        }
        Metrics { registry, ..m }
    }

    /// Count one staff login by outcome.
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins_total.get_or_create(&LoginLabels { outcome }).inc();
    }

    /// Count one intake request by outcome.
    pub fn intake(&self, outcome: IntakeOutcome) {
        self.intake_requests_total
            .get_or_create(&IntakeLabels { outcome })
            .inc();
    }

    /// Set the number of staff in `state`.
    pub fn set_staff_on_shift(&self, state: ShiftState, count: i64) {
        self.staff_on_shift.get_or_create(&ShiftLabels { state }).set(count);
    }

    /// Export storage's count of durable syncs (`Storage::sync_counter`).
    pub fn watch_durable_syncs(&self, syncs: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let _ = self.durable_syncs_source.set(syncs);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        if let Some(syncs) = self.durable_syncs_source.get() {
            let count = syncs.load(std::sync::atomic::Ordering::Relaxed);
            self.durable_syncs_total
                .inner()
                .store(count, std::sync::atomic::Ordering::Relaxed);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`.
pub fn routes() -> axum::Router<std::sync::Arc<crate::Services>> {
    use axum::extract::State;
    use axum::http::header;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(|State(services): State<std::sync::Arc<crate::Services>>| async move {
            (
                [
                    (header::CONTENT_TYPE, CONTENT_TYPE),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                services.metrics.encode(),
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_metric_and_label() {
        let m = Metrics::new();
        m.connections_open.inc();
        m.queue_depth.set(4);
        m.intake(IntakeOutcome::RateLimited);
        m.login(LoginOutcome::Success);
        m.set_staff_on_shift(ShiftState::Available, 3);
        m.messages_accepted_total.inc_by(2);
        let text = m.encode();
        for line in [
            "parasol_connections_open 1",
            "parasol_queue_depth 4",
            "parasol_longest_wait_seconds 0",
            "parasol_staff_on_shift{state=\"available\"} 3",
            "parasol_staff_on_shift{state=\"on_break\"} 0",
            "parasol_intake_requests_total{outcome=\"rate_limited\"} 1",
            "parasol_intake_requests_total{outcome=\"pow_required\"} 0",
            "parasol_messages_accepted_total 2",
            "parasol_commits_accepted_total 0",
            "parasol_logins_total{outcome=\"success\"} 1",
            "parasol_slow_consumers_closed_total 0",
            "parasol_connections_over_source_cap_total 0",
            "parasol_source_overflow_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}

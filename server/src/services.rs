//! The services every connection shares, built at start-up from storage,
//! run until shutdown, then drained and flushed in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Audit;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::directory::Directory;
use crate::mailbox::{Mailboxes, WriterConfig};
use crate::metrics::Metrics;
use crate::staff::{Attestor, Staff};
use crate::stats::Stats;
use crate::storage::Storage;

use crate::background::{intake_clock, purge_loop};
use crate::listeners::{listen, serve_http, serve_metrics};
use crate::{
    admin, circles, escalation, fatal, intake, lifecycle, presence, purge_guard, staff, staff_vault, storage, tls,
    validation,
};

/// Everything a connection needs, shared.
pub struct Services {
    pub config: Arc<Config>,
    pub delivery: Arc<Delivery>,
    pub directory: Arc<Directory>,
    pub intake: Arc<intake::Intake>,
    pub circles: Arc<circles::Circles>,
    pub escalations: Arc<escalation::Escalations>,
    /// The account → keys registry: current keys, revocation, safety net.
    pub lifecycle: Arc<lifecycle::Lifecycle>,
    pub mailboxes: Arc<Mailboxes>,
    /// Who is connected: every authenticated connection, and the rooms'
    /// way to push to it.
    pub presence: Arc<presence::Presence>,
    /// Cancelled when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// One permit per open connection (`connections.max_connections`).
    pub connection_slots: Arc<Semaphore>,
    /// Connection tasks, awaited on shutdown.
    pub tasks: TaskTracker,
    /// Staff accounts, logins and sessions.
    pub staff: Arc<Staff>,
    /// The staff consoles' sealed state.
    pub staff_vault: Arc<staff_vault::StaffVault>,
    /// Signs staff members' MLS signature keys.
    pub attestor: Arc<Attestor>,
    /// The log of staff actions.
    pub audit: Arc<Audit>,
    /// Anonymous daily statistics.
    pub stats: Arc<Stats>,
    pub metrics: Arc<Metrics>,
    /// Where `/metrics` is served (`metrics_listen`), once bound.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Anonymous byte quotas and the free-space floor.
    pub budgets: Arc<storage::budget::Budgets>,
    /// An operator's `admin purge --confirm`, to the purge loop.
    pub purge_requests: purge_guard::PurgeRequests,
}

impl Services {
    /// The rooms' group rules, for delivery (see `delivery::owners`).
    pub fn rooms(&self) -> crate::delivery::Rooms<'_> {
        crate::delivery::Rooms {
            chats: &*self.intake,
            circles: &*self.circles,
            every_group: &*self.lifecycle,
        }
    }
}

/// Run a start-up load on the blocking pool (see `run_with`).
async fn at_start_up<T: Send + 'static>(
    load: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(load)
        .await
        .map_err(|e| anyhow::anyhow!("start-up load task: {e}"))?
}

/// Run the server until `shutdown` is cancelled. `on_listening` is called
/// with the bound address (useful when listening on port 0).
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    run_with(config, shutdown, |addr, _| on_listening(addr)).await
}

/// [`run`], handing `on_listening` the services too (tests reach the
/// staff service through it).
pub async fn run_with(
    config: Config,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(std::net::SocketAddr, &Arc<Services>),
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    // The webhook client's TLS (rustls with ring); a second install in the
    // same process (tests) is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Start-up loads read whole trees: on the blocking pool, so a slow disk
    // holds no async worker (the storage rule; other servers in the same
    // process, in tests, keep their workers).
    let storage = {
        let config = config.clone();
        at_start_up(move || {
            Ok(Storage::open_with_cache(
                &config.data_dir,
                config.vault(),
                config.storage.cache_bytes,
            )?)
        })
        .await?
    };
    // Before the groups load: the mailboxes' recovery may finish a group
    // round a crash interrupted.
    let (mailboxes, writer_thread) = {
        let (storage, config) = (storage.clone(), config.clone());
        at_start_up(move || {
            Ok(Mailboxes::open(
                &storage,
                WriterConfig {
                    group_commit_delay: Duration::from_millis(config.group_commit_delay_ms),
                    max_jobs_per_round: 1024,
                    max_round_bytes: 32 * 1024 * 1024,
                    max_mailbox_envelopes: config.limits.max_mailbox_envelopes,
                },
                8192,
            )?)
        })
        .await?
    };
    let mailboxes = Arc::new(mailboxes);
    // One bounded pool for heavy MLS validation, shared by delivery and
    // the directory.
    let validation = Arc::new(validation::ValidationPool::new(
        &config.limits,
        config.intake.max_tracked_sources,
    ));
    let delivery = {
        let (storage, mailboxes, limits, validation) = (
            storage.clone(),
            mailboxes.clone(),
            config.limits.clone(),
            validation.clone(),
        );
        Arc::new(at_start_up(move || Ok(Delivery::load(&storage, mailboxes, limits, validation)?)).await?)
    };
    tracing::info!(groups = delivery.group_count(), "storage opened");
    let audit = {
        let (storage, config) = (storage.clone(), config.audit.clone());
        Arc::new(at_start_up(move || Ok(Audit::open(storage.db(), storage.owner().clone(), config)?)).await?)
    };
    let stats = Arc::new(Stats::open(
        storage.db(),
        storage.owner().clone(),
        config.stats.clone(),
    )?);
    let metrics = Arc::new(Metrics::new());
    metrics.watch_durable_syncs(storage.sync_counter());
    let staff = {
        // Also hashes the dummy password (CPU for a while).
        let (storage, config, audit) = (storage.clone(), config.staff.clone(), audit.clone());
        Arc::new(at_start_up(move || Ok(Staff::open(storage.db(), storage.owner().clone(), config, audit)?)).await?)
    };
    let staff_vault = {
        let storage = storage.clone();
        Arc::new(at_start_up(move || Ok(staff_vault::StaffVault::open(storage.db(), storage.owner().clone())?)).await?)
    };
    let attestor = Arc::new(Attestor::open(&config.data_dir)?);
    if config.demo {
        let password = staff.ensure_demo().await?;
        // A new password: the old vault key is gone with the old one.
        staff_vault
            .erase(staff.get_by_username(staff::DEMO_USERNAME).await?.account_id)
            .await?;
        // Printed once for the person starting the server; never logged.
        println!("demo counsellor: username {} password {password}", staff::DEMO_USERNAME);
    }
    let directory = {
        let (storage, limits) = (storage.clone(), config.limits.clone());
        Arc::new(at_start_up(move || Ok(Directory::new(storage, limits, validation)?)).await?)
    };
    // One entry per open connection, so bounded by the connection cap.
    let presence = presence::Presence::new(config.connections.max_connections);
    let intake = {
        let (config, storage, staff, delivery, directory) = (
            config.clone(),
            storage.clone(),
            staff.clone(),
            delivery.clone(),
            directory.clone(),
        );
        let attestor_key = attestor.public_key().to_vec();
        let reporting = intake::Reporting {
            audit: audit.clone(),
            stats: stats.clone(),
            metrics: metrics.clone(),
            presence: presence.clone(),
        };
        at_start_up(move || {
            Ok(intake::Intake::load(
                config.intake.clone(),
                &storage,
                staff,
                delivery,
                directory,
                attestor_key,
                reporting,
            )?)
        })
        .await?
    };
    let circles = {
        let (config, storage, delivery, directory, intake, audit, presence) = (
            config.clone(),
            storage.clone(),
            delivery.clone(),
            directory.clone(),
            intake.clone(),
            audit.clone(),
            presence.clone(),
        );
        at_start_up(move || {
            Ok(circles::Circles::load(
                config.circles.clone(),
                config.intake.languages.clone(),
                &storage,
                delivery,
                directory,
                intake,
                audit,
                presence,
            )?)
        })
        .await?
    };
    // Bound before anything is served, so a taken port stops the start.
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen for /metrics on {addr} (metrics_listen): {e}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    if metrics_addr.is_some_and(|a| !a.ip().is_loopback()) {
        // The operator's choice, but worth a line: the counters show
        // traffic and staff presence, and the listener has no login.
        tracing::warn!("metrics_listen is beyond loopback: firewall it to the scraper");
    }
    let escalations = {
        let (config, storage, intake, directory, audit, presence) = (
            config.escalation.clone(),
            storage.clone(),
            intake.clone(),
            directory.clone(),
            audit.clone(),
            presence.clone(),
        );
        at_start_up(move || {
            Ok(escalation::Escalations::load(
                config, &storage, intake, directory, audit, presence,
            )?)
        })
        .await?
    };
    let lifecycle = lifecycle::Lifecycle::load(
        &storage,
        &staff,
        intake.clone(),
        delivery.clone(),
        directory.clone(),
        mailboxes.clone(),
        audit.clone(),
        presence.clone(),
    )
    .await?;
    // The rooms have filled the owner record: tell visitors' groups apart.
    delivery.classify_loaded_groups(&crate::delivery::Rooms {
        chats: &*intake,
        circles: &*circles,
        every_group: &*lifecycle,
    });
    // The rooms told of arrivals and departures, in this order: the
    // intake (which may refuse a staff key), escalation, the lifecycle.
    presence.listen(Arc::downgrade(&intake) as _);
    presence.listen(Arc::downgrade(&escalations) as _);
    presence.listen(Arc::downgrade(&lifecycle) as _);
    let (purge_requests, purge_confirmed) = tokio::sync::mpsc::channel(4);
    let services = Arc::new(Services {
        purge_requests,
        intake,
        circles,
        escalations,
        lifecycle,
        staff,
        staff_vault,
        attestor,
        audit,
        stats,
        metrics,
        metrics_addr,
        directory,
        delivery,
        mailboxes,
        presence,
        shutdown: shutdown.clone(),
        connection_slots: Arc::new(Semaphore::new(config.connections.max_connections)),
        tasks: TaskTracker::new(),
        budgets: Arc::new(storage::budget::Budgets::new(
            config.storage.budgets.clone(),
            config.data_dir.clone(),
        )),
        config: config.clone(),
    });

    let admin_socket = match admin::socket::bind(&config.data_dir) {
        Ok(listener) => Some(tokio::spawn(admin::socket::serve(
            listener,
            admin::socket::path(&config.data_dir),
            admin::AdminContext::of(&services),
            shutdown.clone(),
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "no admin socket; the admin CLI cannot reach this server");
            None
        }
    };
    let purge = tokio::spawn(purge_loop(services.clone(), storage.clone(), purge_confirmed));
    let intake_clock = tokio::spawn(intake_clock(services.clone()));
    let webhooks = tokio::spawn(services.escalations.outbox.clone().run(shutdown.clone()));
    let tls = tls::Tls::load(&config.tls, &config.data_dir)?.map(Arc::new);
    if let Some(tls) = &tls {
        if config.tls.self_signed {
            // Printed once for the person starting the server.
            println!(
                "self-signed TLS certificate SHA-256 {} (for clients: {})",
                tls.fingerprint,
                config.data_dir.join(tls::SELF_SIGNED_CERT_FILE).display()
            );
        }
        #[cfg(unix)]
        tokio::spawn(tls.clone().reload_on_sighup(shutdown.clone()));
    }
    let listener = listen(
        config.listen,
        config.connections.listen_backlog,
        config.connections.socket_send_buffer_bytes,
    )?;
    let metrics_server = metrics_listener.map(|listener| tokio::spawn(serve_metrics(listener, services.clone())));
    on_listening(listener.local_addr()?, &services);
    // A fatal failure ends the server at once: no drain and no flush, since
    // memory may be ahead of disk (see `fatal`). One handle to the storage
    // is never dropped, so sled's own flush on drop cannot run either.
    let kept_storage = storage.clone();
    let serve_and_drain = async move {
        serve_http(listener, tls, &services).await?;
        if let Some(metrics_server) = metrics_server {
            let _ = metrics_server.await;
        }

        // Stop: connections close with 1001 after their in-flight writes finish.
        purge.abort();
        intake_clock.abort();
        webhooks.abort();
        if let Some(admin_socket) = admin_socket {
            let _ = admin_socket.await;
        }
        services.tasks.close();
        // Within the shutdown deadline (`shutdown_deadline_secs`, 4 s by default).
        if tokio::time::timeout(Duration::from_secs(2), services.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        drop(services); // drops the writer's queue, so the writer finishes and flushes
        let joined = tokio::task::spawn_blocking(move || writer_thread.join());
        if tokio::time::timeout(Duration::from_secs(1), joined).await.is_err() {
            tracing::warn!("storage writer did not stop in time; flushing directly");
        }
        // Never flush what a fatal failure left ahead of the disk.
        if let Some(failure) = fatal::reported_now() {
            return Err(failure.into());
        }
        // On the blocking pool: a stalled disk must not hold a worker (the
        // shutdown deadline still ends the process).
        tokio::task::spawn_blocking(move || storage.flush_blocking())
            .await
            .map_err(|e| anyhow::anyhow!("final flush task: {e}"))??;
        anyhow::Ok(())
    };
    tokio::select! {
        biased;
        failure = fatal::reported() => {
            std::mem::forget(kept_storage);
            Err(failure.into())
        }
        served = serve_and_drain => {
            served?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

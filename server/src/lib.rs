//! Parasol server: the MLS delivery service (RFC 9750) over WebSocket.
//!
//! Rooms, one job each:
//! - [`net`]: transport: accept, TLS, HTTP routes, a socket's life from
//!   challenge to close, authentication and push flow control;
//! - [`ops`]: the protocol's operations, one file each, with who may call
//!   them;
//! - [`delivery`]: group state (openmls `PublicGroup`), commit validation,
//!   ordering and fan-out;
//! - [`directory`]: the key-package directory;
//! - [`mailbox`]: per-client mailboxes, push and ack;
//! - [`intake`]: the anonymous intake queue, shifts, routing and the
//!   intake's abuse limits;
//! - [`escalation`]: escalation to the crisis line, responders' duty, the
//!   webhook outbox and visitors' SOS;
//! - [`storage`]: sled, and the group-commit writer;
//! - [`staff`]: staff accounts, logins, sessions and the attestation key;
//! - [`staff_vault`]: the staff consoles' sealed state (identity, groups);
//! - [`audit`]: the content-free log of staff actions;
//! - [`stats`]: anonymous daily statistics; [`metrics`]: Prometheus;
//! - [`admin`]: the admin CLI's commands and its Unix socket;
//! - [`config`]: every setting and bound.

pub mod admin;
pub mod audit;
pub mod circles;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod escalation;
pub mod intake;
pub mod lifecycle;
pub mod mailbox;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod purge_guard;
pub mod staff;
pub mod staff_vault;
pub mod stats;
pub mod storage;
pub mod time;
pub mod validation;

/// The transport's modules, at their old paths too.
pub use net::{accept, http, tls};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use audit::Audit;
use config::Config;
use delivery::Delivery;
use directory::Directory;
use mailbox::Mailboxes;
use metrics::Metrics;
use staff::{Attestor, Staff};
use stats::Stats;
use storage::writer::{self, WriterConfig};
use storage::Storage;

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

/// Stop the process after a failure that would leave memory and disk
/// disagreeing. Restarting recovers from the last durable state.
pub fn fatal(message: &str) -> ! {
    tracing::error!(
        message,
        "fatal storage failure; exiting so a restart recovers from disk"
    );
    std::process::exit(70)
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
    let index: writer::MailboxIndex = Default::default();
    let (writer_tx, writer_thread) = writer::spawn(
        storage.clone(),
        index.clone(),
        WriterConfig {
            group_commit_delay: Duration::from_millis(config.group_commit_delay_ms),
            max_jobs_per_round: 1024,
            max_round_bytes: 32 * 1024 * 1024,
            max_mailbox_envelopes: config.limits.max_mailbox_envelopes,
        },
        8192,
    );
    let mailboxes = Arc::new(Mailboxes::new(storage.clone(), index, writer_tx));
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
        let (config, storage, delivery, directory, intake, audit) = (
            config.clone(),
            storage.clone(),
            delivery.clone(),
            directory.clone(),
            intake.clone(),
            audit.clone(),
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
        let (config, storage, intake, directory, audit) = (
            config.escalation.clone(),
            storage.clone(),
            intake.clone(),
            directory.clone(),
            audit.clone(),
        );
        at_start_up(move || {
            Ok(escalation::Escalations::load(
                config, &storage, intake, directory, audit,
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
    )
    .await?;
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
    // On the blocking pool: a stalled disk must not hold a worker (the
    // shutdown deadline still ends the process).
    tokio::task::spawn_blocking(move || storage.flush_blocking())
        .await
        .map_err(|e| anyhow::anyhow!("final flush task: {e}"))??;
    tracing::info!("stopped");
    Ok(())
}

/// Serve the routes over plain HTTP or TLS until shutdown. A TLS
/// handshake, and each request's headers, must arrive within
/// `connections.handshake_timeout_secs` (slowloris).
async fn serve_http(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tls::Tls>>,
    services: &Arc<Services>,
) -> std::io::Result<()> {
    let handshake = Duration::from_secs(services.config.connections.handshake_timeout_secs);
    let handle = axum_server::Handle::<accept::QueuedAddr>::new();
    let stop = services.shutdown.clone();
    let stopping = handle.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        // WebSockets are not HTTP connections any more; they close
        // themselves with 1001 and are awaited through `Services::tasks`.
        stopping.graceful_shutdown(Some(Duration::from_secs(2)));
    });
    let app = http::router(services.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let queue = services.config.connections.listen_backlog as usize;
    let listener = accept::spawn(listener.into_std()?, queue)?;
    let mut server = axum_server::Server::from_listener(listener)
        .handle(handle)
        .first_request_timeout(handshake);
    server.http_builder().http1().header_read_timeout(handshake);
    match tls {
        Some(tls) => {
            let acceptor =
                axum_server::tls_rustls::RustlsAcceptor::new(tls.rustls.clone()).handshake_timeout(handshake);
            server.acceptor(acceptor).serve(app).await
        }
        None => server.serve(app).await,
    }
}

/// Serve `GET /metrics` on its own listener until shutdown, plain HTTP
/// with the main listener's header timeout.
async fn serve_metrics(listener: std::net::TcpListener, services: Arc<Services>) {
    let handshake = Duration::from_secs(services.config.connections.handshake_timeout_secs);
    let handle = axum_server::Handle::<std::net::SocketAddr>::new();
    let stopping = handle.clone();
    let stop = services.shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        stopping.graceful_shutdown(Some(Duration::from_secs(1)));
    });
    let app = http::metrics_router(services.clone());
    let served = async {
        let mut server = axum_server::from_tcp(listener)?
            .handle(handle)
            .first_request_timeout(handshake);
        server.http_builder().http1().header_read_timeout(handshake);
        server.serve(app.into_make_service()).await
    };
    if let Err(e) = served.await {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}

/// Bind with a deliberate accept backlog (tokio's `bind` uses 1024, which
/// a reconnect storm overflows; dropped SYNs wait seconds for a retry) and
/// a fixed send buffer, which accepted sockets inherit.
fn listen(addr: std::net::SocketAddr, backlog: u32, send_buffer: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(send_buffer)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Every second: offers time out, abandoned tickets close, unanswered
/// escalations are notified again. Every minute
/// the rate limiters forget sources that are back to a full budget.
async fn intake_clock(services: Arc<Services>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        services.intake.tick();
        services.escalations.tick().await;
        n += 1;
        if n.is_multiple_of(60) {
            services.intake.guard.trim();
        }
    }
}

/// Retention, every `purge_interval_secs`: delete envelopes older than
/// `retention_secs`, expired key packages and idle groups, and trim the
/// in-memory claim counters and mailbox index. Held while the clock looks
/// wrong ([`purge_guard`]); an operator's confirmation runs it at once.
async fn purge_loop(
    services: Arc<Services>,
    storage: Storage,
    mut confirmed: tokio::sync::mpsc::Receiver<purge_guard::PurgeRequest>,
) {
    use purge_guard::{ClockJump, Decision};
    let guard = purge_guard::PurgeGuard::new(services.config.clock_jump_bound_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(services.config.purge_interval_secs));
    loop {
        let request = tokio::select! {
            _ = tick.tick() => None,
            Some(request) = confirmed.recv() => Some(request),
        };
        let now = time::now_secs();
        if request.is_none() {
            let last = {
                let storage = storage.clone();
                storage::owner::read(move || storage.last_purge_secs()).await
            };
            let last = match last {
                Ok(last) => last,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the last purge time; purge held");
                    continue;
                }
            };
            match guard.decide(last, now, std::time::Instant::now()) {
                Decision::Purge => {}
                Decision::PurgeAfterHold => tracing::warn!(
                    bound_secs = services.config.clock_jump_bound_secs,
                    "the clock ran steadily for clock_jump_bound_secs since the purge was held: purging by it now"
                ),
                Decision::Hold { jump, new } => {
                    // Logged when the hold begins, then once an hour.
                    let hourly = services.config.purge_interval_secs.max(1);
                    if new || now % 3600 < hourly {
                        let (direction, secs) = match jump {
                            ClockJump::Forward { secs } => ("forward", secs),
                            ClockJump::Backward { secs } => ("backward", secs),
                        };
                        tracing::warn!(
                            direction,
                            secs,
                            bound_secs = services.config.clock_jump_bound_secs,
                            "the clock moved too far since the last retention purge: nothing is purged or destroyed \
                             until it has run steadily for clock_jump_bound_secs or an operator runs \
                             `parasol-server admin purge --confirm`"
                        );
                    }
                    services.directory.forget_idle_claim_counters();
                    services.mailboxes.evict_empty();
                    continue;
                }
            }
        } else {
            guard.release();
            tracing::warn!("retention purge confirmed by an operator");
        }
        let outcome = purge_once(&services, &storage, now).await;
        if let Some(request) = request {
            let _ = request.send(outcome);
        }
    }
}

/// One retention purge at `now`; its time is recorded once it is done.
async fn purge_once(
    services: &Arc<Services>,
    storage: &Storage,
    now: u64,
) -> Result<purge_guard::PurgeSummary, String> {
    let cutoff = now.saturating_sub(services.config.retention_secs);
    let mailboxes = services.mailboxes.clone();
    // Envelopes first, then the keys that sealed them (crypto-shredding
    // what sled's log may still hold).
    let envelopes = tokio::task::spawn_blocking(move || {
        let envelopes = mailboxes.purge_before(cutoff)?;
        let keys = mailboxes.destroy_expired_keys(now)?;
        Ok::<_, storage::StorageError>((envelopes, keys))
    })
    .await;
    let key_packages = services.directory.purge_expired().await;
    let groups = services.delivery.expire_idle_groups().await;
    let circle_records = match services.circles.purge(now).await {
        Ok(n) => n,
        Err(_) => {
            tracing::error!("circles purge failed");
            0
        }
    };
    services.directory.forget_idle_claim_counters();
    services.mailboxes.evict_empty();
    // Each on the state owner, and each tried even if another failed.
    let staff_purged = services.staff.purge_expired().await.is_ok();
    let audit_purged = services.audit.purge(now).await.is_ok();
    let stats_purged = services.stats.purge(stats::Day::from_unix_secs(now)).await.is_ok();
    if !(staff_purged && audit_purged && stats_purged) {
        tracing::error!(
            staff_purged,
            audit_purged,
            stats_purged,
            "staff, audit or stats purge failed"
        );
    }
    match (envelopes, key_packages) {
        (Ok(Ok((e, keys))), Ok(k)) => {
            let summary = purge_guard::PurgeSummary {
                envelopes: e,
                storage_keys_destroyed: keys,
                key_packages: k,
                groups,
                circle_records,
            };
            tracing::info!(
                envelopes = e,
                storage_keys_destroyed = keys,
                key_packages = k,
                groups,
                circle_records,
                "retention purge"
            );
            if let Err(e) = storage.record_purge_secs(now).await {
                tracing::error!(error = %e, "cannot record the purge time");
            }
            Ok(summary)
        }
        _ => {
            tracing::error!("retention purge failed");
            Err("the retention purge failed; see the server log".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn accepted_sockets_inherit_the_fixed_send_buffer() {
        let listener = super::listen("127.0.0.1:0".parse().unwrap(), 16, 48 * 1024).unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let _client = client.connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        // A client that never reads: the kernel takes what fits and no more
        // (left to autotuning it takes about 3 MB here).
        let chunk = [0u8; 4096];
        let mut written = 0;
        for _ in 0..25 {
            while let Ok(n) = accepted.try_write(&chunk) {
                written += n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(written < 512 * 1024, "the kernel took {written} bytes");
        let socket = tokio::net::TcpSocket::from_std_stream(accepted.into_std().unwrap());
        let bytes = socket.send_buffer_size().unwrap();
        // Linux doubles the value asked for.
        assert!((48 * 1024..=96 * 1024).contains(&bytes), "send buffer {bytes}");
    }
}

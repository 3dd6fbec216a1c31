#![forbid(unsafe_code)]
//! `parasol-server`: run the delivery service.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use parasol_server::admin::cli::AdminCommand;
use parasol_server::config::{Config, LogFormat};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: the relay's profile spent about a
/// third of its time in glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parasol: end-to-end-encrypted peer-support chat. This binary runs the
/// MLS delivery service. Settings come from defaults, then the config file,
/// then environment variables, then flags.
#[derive(Parser, Debug)]
#[command(name = "parasol-server", version)]
struct Args {
    /// TOML configuration file.
    #[arg(long, env = "PARASOL_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, env = "PARASOL_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Address for `GET /metrics`, a listener of its own (default
    /// 127.0.0.1:9464), or `off`.
    #[arg(long, env = "PARASOL_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Folder for the database.
    #[arg(long, env = "PARASOL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "PARASOL_LOG_FORMAT")]
    log_format: Option<String>,
    /// Delete envelopes this many seconds after arrival even if unacked.
    #[arg(long, env = "PARASOL_RETENTION_SECS")]
    retention_secs: Option<u64>,
    /// Extra milliseconds each storage round waits to batch more writes.
    #[arg(long, env = "PARASOL_GROUP_COMMIT_DELAY_MS")]
    group_commit_delay_ms: Option<u64>,
    /// Create the demo counsellor `demo` with a fresh password, printed once.
    #[arg(long)]
    demo: bool,
    /// Serve HTTPS/WSS with this PEM certificate chain (leaf first);
    /// re-read on SIGHUP. Needs --tls-key.
    #[arg(long, env = "PARASOL_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PARASOL_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS/WSS with a self-signed certificate made at start, for
    /// localhost, 127.0.0.1 and ::1 (demos only).
    #[arg(long)]
    tls_self_signed: bool,
    /// A TLS-terminating proxy speaks HTTPS to browsers: allow plain HTTP
    /// beyond loopback and send HSTS.
    #[arg(long)]
    behind_tls_proxy: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage staff accounts, read statistics and the audit log. Goes
    /// through the running server's admin socket, or opens the database
    /// when no server runs.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

fn main() -> std::process::ExitCode {
    // Whatever the server writes (database, keys, certificates, the admin
    // socket) is its owner's alone, whatever umask it was started with.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let args = Args::parse();
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parasol-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.metrics_listen {
        match parasol_server::config::parse_metrics_listen(&v) {
            Ok(v) => config.metrics_listen = v,
            Err(e) => {
                eprintln!("parasol-server: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.retention_secs {
        config.retention_secs = v;
    }
    if let Some(v) = args.group_commit_delay_ms {
        config.group_commit_delay_ms = v;
    }
    if args.demo {
        config.demo = true;
    }
    if args.tls_cert.is_some() || args.tls_key.is_some() {
        config.tls.cert_file = args.tls_cert;
        config.tls.key_file = args.tls_key;
    }
    if args.tls_self_signed {
        config.tls.self_signed = true;
    }
    if args.behind_tls_proxy {
        config.behind_tls_proxy = true;
    }
    match args.log_format.as_deref() {
        None => {}
        Some("text") => config.log_format = LogFormat::Text,
        Some("json") => config.log_format = LogFormat::Json,
        Some(other) => {
            eprintln!("parasol-server: unknown log format {other:?} (text or json)");
            return std::process::ExitCode::from(2);
        }
    }
    if let Err(e) = config.validate() {
        eprintln!("parasol-server: {e}");
        return std::process::ExitCode::from(2);
    }
    if let Some(Command::Admin { command }) = args.command {
        return parasol_server::admin::cli::run(&config, command);
    }
    init_logging(config.log_format);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parasol-server: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let deadline = std::time::Duration::from_secs(config.shutdown_deadline_secs);
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        if let Err(e) = watch_signals(shutdown.clone(), deadline) {
            tracing::error!(error = %e, "cannot install signal handlers");
            return Err(anyhow::anyhow!("cannot install signal handlers: {e}"));
        }
        let data_dir = config.data_dir.clone();
        let (http, ws) = if config.tls.enabled() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        parasol_server::run_with(config, shutdown, move |addr, services| {
            // Before the banner: whoever waits for the banner knows both.
            if let Some(metrics) = services.metrics_addr {
                println!("parasol-server metrics on http://{metrics}/metrics");
            }
            println!(
                "parasol-server listening on {http}://{addr} (WebSocket {ws}://{addr}/v1/ws), data in {}",
                data_dir.display()
            );
        })
        .await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<parasol_server::fatal::FatalError>().is_some() => {
            eprintln!("parasol-server: {e:#}");
            // The thread that hit the failure is parked for good: do not
            // wait for it. 70 (EX_SOFTWARE): a restart recovers from disk.
            runtime.shutdown_background();
            std::process::ExitCode::from(70)
        }
        Err(e) => {
            eprintln!("parasol-server: {e:#}");
            // A certificate that does not load is a configuration error.
            if e.downcast_ref::<parasol_server::tls::TlsError>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// Logs carry no IP address, content, token or identity: the code never
/// passes them to tracing. Default level: info (`PARASOL_LOG` overrides).
fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("PARASOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The webhook's HTTP client logs addresses it connects to at debug
    // level; those crates only ever speak up for warnings.
    for quiet in [
        "reqwest=warn",
        "hyper=warn",
        "hyper_util=warn",
        "rustls=warn",
        "h2=warn",
    ] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// SIGTERM or SIGINT starts a graceful shutdown. A thread of its own
/// waits for them, not a task on the runtime, so a stop is heard even when
/// every async worker is stuck; and if the graceful shutdown has not ended
/// by `deadline`, the process exits with status 124. Nothing acknowledged
/// is lost that way: every answer waits for its flush.
fn watch_signals(shutdown: CancellationToken, deadline: std::time::Duration) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if signals.forever().next().is_some() {
            tracing::info!("shutdown requested");
            shutdown.cancel();
            // A second signal, or the deadline, ends it at once.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = signals.forever().next();
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(deadline);
            tracing::error!(
                deadline_secs = deadline.as_secs(),
                "shutdown did not finish in time; exiting without waiting further"
            );
            std::process::exit(124);
        }
    })?;
    Ok(())
}

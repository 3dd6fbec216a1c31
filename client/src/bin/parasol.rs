#![forbid(unsafe_code)]
//! `parasol`: command-line client for Parasol, for people and for scripts.
//!
//! Every command loads the state file, does its work and saves it. Results go
//! to stdout (plain hex for ids, otherwise one JSON object per line); errors
//! go to stderr as one JSON object `{"error": .., "code": ..}` with a
//! non-zero exit code (1: failure, 2: usage). The state file holds secret
//! keys; it is created with mode 0600.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use parasol_client::identity::parse_client_id;
use parasol_client::{Client, ClientConfig, ClientError, ClientState, Event, Identity, TlsTrust};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "parasol",
    version,
    about = "Parasol client: end-to-end encrypted (MLS) peer-support chat",
    long_about = "Parasol client: end-to-end encrypted (MLS) peer-support chat.\n\n\
        Results are printed to stdout (ids as hex, everything else as one JSON \
        object per line). Errors are printed to stderr as JSON and the exit \
        code is non-zero.\n\nThe state file contains your secret keys: keep it private."
)]
struct Cli {
    /// WebSocket URL of the server (ws:// or wss://).
    #[arg(
        long,
        global = true,
        env = "PARASOL_SERVER",
        default_value = "ws://127.0.0.1:8080/v1/ws"
    )]
    server: String,
    /// Client state file (identity key, MLS state, mailbox cursor). Secret!
    #[arg(long, global = true, env = "PARASOL_STATE", default_value = "./parasol-client.state")]
    state: PathBuf,
    /// PEM file of certificates to trust for wss:// besides the Web PKI
    /// roots, e.g. a server's self-signed demo certificate.
    #[arg(long, global = true, env = "PARASOL_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new identity and state file; prints the client id (hex).
    Init,
    /// Print this client's id (hex).
    Id,
    /// Publish key packages so others can add you to groups.
    Publish {
        /// Number of one-time key packages.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Also publish a last-resort key package (used when no one-time
        /// package is left).
        #[arg(long)]
        last_resort: bool,
    },
    /// Create a group with you as its only member; prints the group id (hex).
    CreateGroup,
    /// Add clients to a group (one commit, they join by Welcome).
    Add {
        /// Group id (hex).
        #[arg(long)]
        group: String,
        /// Client ids (hex) to add.
        #[arg(required = true)]
        clients: Vec<String>,
    },
    /// Remove members from a group.
    Remove {
        /// Group id (hex).
        #[arg(long)]
        group: String,
        /// Client ids (hex) to remove.
        #[arg(required = true)]
        clients: Vec<String>,
    },
    /// Refresh your keys in a group (self-update commit).
    Update {
        /// Group id (hex).
        #[arg(long)]
        group: String,
    },
    /// Send a text message to a group.
    Send {
        /// Group id (hex).
        #[arg(long)]
        group: String,
        /// The message.
        text: String,
    },
    /// Receive events; prints one JSON object per event.
    Receive {
        /// Stop when no event arrived for this many seconds.
        #[arg(long, default_value_t = 2.0)]
        wait: f64,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
    /// List your groups (local view: epoch and members).
    Groups {
        /// Ask the server instead (epoch and member count).
        #[arg(long)]
        remote: bool,
    },
    /// List the members of a group (local view).
    Members {
        /// Group id (hex).
        #[arg(long)]
        group: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARASOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report(&ClientError::Io(e));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(1)
        }
    }
}

fn report(e: &ClientError) {
    let mut obj = json!({ "error": e.to_string() });
    if let Some(code) = e.server_code() {
        obj["code"] = json!(code.as_str());
    }
    eprintln!("{obj}");
}

fn parse_group(hex_str: &str) -> Result<Vec<u8>, ClientError> {
    hex::decode(hex_str.trim())
        .ok()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| ClientError::InvalidInput("a group id is hex".into()))
}

fn parse_clients(list: &[String]) -> Result<Vec<[u8; 32]>, ClientError> {
    list.iter().map(|c| parse_client_id(c)).collect()
}

async fn connect(cli: &Cli) -> Result<Client, ClientError> {
    let state = ClientState::open(&cli.state)?;
    let tls = match &cli.ca_file {
        Some(path) => TlsTrust::with_ca_file(path)?,
        None => TlsTrust::default(),
    };
    Client::connect_with(
        &cli.server,
        state,
        ClientConfig {
            tls,
            ..ClientConfig::default()
        },
    )
    .await
}

async fn run(cli: Cli) -> Result<(), ClientError> {
    match &cli.command {
        Command::Init => {
            let state = ClientState::create(&cli.state, Identity::generate())?;
            println!("{}", hex::encode(state.client_id()));
        }
        Command::Id => {
            let state = ClientState::open(&cli.state)?;
            println!("{}", hex::encode(state.client_id()));
        }
        Command::Publish { count, last_resort } => {
            let mut client = connect(&cli).await?;
            let mut result = if *count > 0 {
                Some(client.publish_key_packages(*count).await?)
            } else {
                None
            };
            if *last_resort {
                result = Some(client.publish_last_resort_key_package().await?);
            }
            client.close().await?;
            if let Some((one_time, last_resort)) = result {
                println!("{}", json!({"one_time": one_time, "last_resort": last_resort}));
            }
        }
        Command::CreateGroup => {
            let mut client = connect(&cli).await?;
            let gid = client.create_group().await?;
            client.close().await?;
            println!("{}", hex::encode(gid));
        }
        Command::Add { group, clients } => {
            let (gid, ids) = (parse_group(group)?, parse_clients(clients)?);
            let mut client = connect(&cli).await?;
            let epoch = client.add_members(&gid, &ids).await?;
            client.close().await?;
            println!("{}", json!({"group": hex::encode(&gid), "epoch": epoch}));
        }
        Command::Remove { group, clients } => {
            let (gid, ids) = (parse_group(group)?, parse_clients(clients)?);
            let mut client = connect(&cli).await?;
            let epoch = client.remove_members(&gid, &ids).await?;
            client.close().await?;
            println!("{}", json!({"group": hex::encode(&gid), "epoch": epoch}));
        }
        Command::Update { group } => {
            let gid = parse_group(group)?;
            let mut client = connect(&cli).await?;
            let epoch = client.self_update(&gid).await?;
            client.close().await?;
            println!("{}", json!({"group": hex::encode(&gid), "epoch": epoch}));
        }
        Command::Send { group, text } => {
            let gid = parse_group(group)?;
            let mut client = connect(&cli).await?;
            let epoch = client.send_text(&gid, text).await?;
            client.close().await?;
            println!("{}", json!({"group": hex::encode(&gid), "epoch": epoch}));
        }
        Command::Receive { wait, count } => {
            if !wait.is_finite() || *wait < 0.0 {
                return Err(ClientError::InvalidInput("--wait must be ≥ 0".into()));
            }
            let idle = Duration::from_secs_f64(*wait);
            let mut client = connect(&cli).await?;
            let mut n = 0usize;
            let mut last = Instant::now();
            while count.is_none_or(|c| n < c) {
                let left = idle.saturating_sub(last.elapsed());
                match client.next_event(left).await? {
                    Some(Event::Reconnected) | Some(Event::Disconnected { .. }) => {}
                    Some(event) => {
                        let line = serde_json::to_string(&event).map_err(|e| ClientError::State(e.to_string()))?;
                        println!("{line}");
                        n += 1;
                        last = Instant::now();
                    }
                    None => break,
                }
            }
            client.close().await?;
        }
        Command::Groups { remote } => {
            if *remote {
                let client = connect(&cli).await?;
                let groups = client.list_server_groups().await?;
                client.close().await?;
                for g in groups {
                    println!(
                        "{}",
                        json!({"group": hex::encode(&g.group_id.0), "epoch": g.epoch, "members": g.members})
                    );
                }
            } else {
                let state = ClientState::open(&cli.state)?;
                for gid in state.mls().active_groups() {
                    let epoch = state.mls().epoch(&gid)?;
                    let members: Vec<String> = state.mls().members(&gid)?.iter().map(hex::encode).collect();
                    println!(
                        "{}",
                        json!({"group": hex::encode(&gid), "epoch": epoch, "members": members})
                    );
                }
            }
        }
        Command::Members { group } => {
            let gid = parse_group(group)?;
            let state = ClientState::open(&cli.state)?;
            for m in state.mls().members(&gid)? {
                println!("{}", hex::encode(m));
            }
        }
    }
    Ok(())
}

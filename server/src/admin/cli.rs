//! `parasol-server admin <command>`: the client side. It sends the command
//! to the running server's admin socket; when no server answers there, it
//! opens the database itself (sled allows one process at a time).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use parasol_protocol::StaffRole;

use super::{AdminContext, AdminReply, AdminRequest};
use crate::audit::{Actor, Audit};
use crate::config::Config;
use crate::staff::{password, AccountSummary, Staff};
use crate::stats::{Day, Stats};
use crate::storage::{Storage, StorageError};

#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a staff account. Prints a generated password unless
    /// --password-stdin is given.
    CreateStaff {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// counsellor, supervisor, crisis_responder or admin.
        #[arg(long)]
        role: StaffRole,
        /// ISO 639-1 codes, comma-separated (e.g. mk,sq,en).
        #[arg(long, value_delimiter = ',', required = true)]
        languages: Vec<String>,
        /// Chats this person takes at once (1 to 20).
        #[arg(long)]
        max_chats: u8,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot log in, and its live sessions end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Set a new password (printed, or read with --password-stdin); ends the account's sessions.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Require a TOTP code at login; prints the otpauth:// URI for an authenticator app.
    EnableTotp { username: String },
    /// Stop requiring a TOTP code.
    DisableTotp { username: String },
    /// End every session of an account (it can log in again).
    RevokeSessions { username: String },
    /// List the staff accounts.
    List,
    /// Anonymous daily statistics as CSV (counts under 5 written "<5").
    Stats {
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: Day,
        /// Last day, YYYY-MM-DD (UTC).
        #[arg(long)]
        to: Day,
    },
    /// The audit log of staff actions, oldest first.
    Audit {
        /// YYYY-MM-DD (UTC) or Unix seconds; default: the last 7 days.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Run the retention purge now, in the running server, even while it is
    /// held because the clock moved too far: deletes envelopes older than
    /// retention_secs BY THE SERVER'S CLOCK and destroys their storage keys.
    /// Check the clock first. Needs --confirm.
    Purge {
        #[arg(long)]
        confirm: bool,
    },
}

fn read_password(from_stdin: bool) -> Result<(String, bool), String> {
    if !from_stdin {
        return Ok((password::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

fn parse_since(since: Option<&str>) -> Result<u64, String> {
    match since {
        None => Ok(crate::time::now_secs().saturating_sub(7 * 86_400)),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| "--since: not a number of seconds".to_string())
        }
        Some(s) => s
            .parse::<Day>()
            .map(|d| u64::from(d.0) * 86_400)
            .map_err(|e| format!("--since: {e}")),
    }
}

/// The request for `command`, and a password to show the operator if one
/// was generated.
fn request(command: AdminCommand) -> Result<(AdminRequest, Option<String>), String> {
    let shown = |(p, generated): (String, bool)| (p.clone(), generated.then_some(p));
    Ok(match command {
        AdminCommand::CreateStaff {
            username,
            display_name,
            role,
            languages,
            max_chats,
            password_stdin,
        } => {
            let (password, show) = shown(read_password(password_stdin)?);
            (
                AdminRequest::CreateStaff {
                    username,
                    display_name,
                    role,
                    languages,
                    max_chats,
                    password,
                },
                show,
            )
        }
        AdminCommand::ResetPassword {
            username,
            password_stdin,
        } => {
            let (password, show) = shown(read_password(password_stdin)?);
            (AdminRequest::ResetPassword { username, password }, show)
        }
        AdminCommand::Disable { username } => (AdminRequest::Disable { username }, None),
        AdminCommand::Enable { username } => (AdminRequest::Enable { username }, None),
        AdminCommand::EnableTotp { username } => (AdminRequest::EnableTotp { username }, None),
        AdminCommand::DisableTotp { username } => (AdminRequest::DisableTotp { username }, None),
        AdminCommand::RevokeSessions { username } => (AdminRequest::RevokeSessions { username }, None),
        AdminCommand::List => (AdminRequest::List, None),
        AdminCommand::Stats { from, to } => (AdminRequest::Stats { from, to }, None),
        AdminCommand::Audit { since, limit } => (
            AdminRequest::Audit {
                since: parse_since(since.as_deref())?,
                limit,
            },
            None,
        ),
        AdminCommand::Purge { confirm: false } => {
            return Err(
                "purge deletes envelopes and destroys storage keys by the server's clock: check the \
                        clock, then run `admin purge --confirm`"
                    .into(),
            )
        }
        AdminCommand::Purge { confirm: true } => (AdminRequest::Purge, None),
    })
}

/// Send `request` to a running server. `Ok(None)` if none listens.
fn via_socket(data_dir: &Path, request: &AdminRequest) -> Result<Option<AdminReply>, String> {
    let mut stream = match UnixStream::connect(super::socket::path(data_dir)) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(format!("cannot reach the server's admin socket: {e}")),
    };
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| format!("admin socket write failed: {e}"))?;
    let mut reply = String::new();
    BufReader::new(stream.take(64 * 1024 * 1024))
        .read_line(&mut reply)
        .map_err(|e| format!("admin socket read failed: {e}"))?;
    serde_json::from_str(&reply)
        .map(Some)
        .map_err(|e| format!("unexpected answer from the server: {e}"))
}

/// Run `request` on the database directly (no server running).
fn direct(config: &Config, request: AdminRequest) -> Result<AdminReply, String> {
    let storage = Storage::open_with_cache(&config.data_dir, config.vault(), config.storage.cache_bytes).map_err(
        |e| match e {
            // sled reports its file lock this way.
            StorageError::Sled(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                "the database is in use by a running server whose admin socket does not answer".to_string()
            }
            other => format!("cannot open the database: {other}"),
        },
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let db = storage.db();
        let audit =
            Arc::new(Audit::open(db, storage.owner().clone(), config.audit.clone()).map_err(|e| e.to_string())?);
        let context = AdminContext {
            staff: Arc::new(
                Staff::open(db, storage.owner().clone(), config.staff.clone(), audit.clone())
                    .map_err(|e| e.to_string())?,
            ),
            staff_vault: Arc::new(
                crate::staff_vault::StaffVault::open(db, storage.owner().clone()).map_err(|e| e.to_string())?,
            ),
            stats: Arc::new(Stats::open(db, storage.owner().clone(), config.stats.clone()).map_err(|e| e.to_string())?),
            audit,
            purge: None,
        };
        let reply = context.execute(request).await;
        storage.flush().await.map_err(|e| e.to_string())?;
        Ok(reply)
    })
}

fn account_line(a: &AccountSummary) -> String {
    format!(
        "{:>4}  {:<20} {:<16} {:<12} {:>2}  {:<4} {:<8} {}",
        a.account_id,
        a.username,
        a.role.as_str(),
        a.languages.join(","),
        a.max_concurrent_chats,
        if a.totp_enabled { "totp" } else { "-" },
        if a.disabled { "disabled" } else { "active" },
        a.display_name
    )
}

fn utc(secs: u64) -> String {
    let s = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Day::from_unix_secs(secs),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Run one admin command; prints its result to stdout, errors to stderr.
pub fn run(config: &Config, command: AdminCommand) -> ExitCode {
    let fail = |message: String| {
        eprintln!("parasol-server admin: {message}");
        ExitCode::FAILURE
    };
    let (request, generated) = match request(command) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let reply = match via_socket(&config.data_dir, &request) {
        Ok(Some(reply)) => reply,
        Ok(None) => match direct(config, request) {
            Ok(reply) => reply,
            Err(e) => return fail(e),
        },
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    let _ = match reply {
        AdminReply::Error { message } => return fail(message),
        AdminReply::Account { account } => writeln!(out, "{}", account_line(&account)),
        AdminReply::Accounts { accounts } => {
            let _ = writeln!(
                out,
                "{:>4}  {:<20} {:<16} {:<12} {:>2}  {:<4} {:<8} display name",
                "id", "username", "role", "languages", "max", "2fa", "state"
            );
            accounts.iter().try_for_each(|a| writeln!(out, "{}", account_line(a)))
        }
        AdminReply::Done => writeln!(out, "done"),
        AdminReply::TotpUri { uri } => writeln!(
            out,
            "{uri}\nAdd this to the staff member's authenticator app; it is not shown again."
        ),
        AdminReply::Csv { csv } => write!(out, "{csv}"),
        AdminReply::Purged { summary } => writeln!(
            out,
            "purged: {} envelopes, {} storage keys destroyed, {} key packages, {} groups, {} circle records",
            summary.envelopes,
            summary.storage_keys_destroyed,
            summary.key_packages,
            summary.groups,
            summary.circle_records
        ),
        AdminReply::Audit { entries } => entries.iter().try_for_each(|e| {
            let actor = match e.actor {
                Actor::Staff(id) => format!("staff:{id}"),
                Actor::System => "system".to_string(),
                Actor::Member => "circle member".to_string(),
            };
            let action = serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            writeln!(
                out,
                "{} {actor} {action} {} {}",
                utc(e.at),
                e.subject.as_deref().unwrap_or("-"),
                e.detail.as_deref().unwrap_or("")
            )
        }),
    };
    if let Some(password) = generated {
        let _ = writeln!(out, "password: {password}");
    }
    ExitCode::SUCCESS
}

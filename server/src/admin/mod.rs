//! Administration: the commands of `parasol-server admin …`, run either in
//! the server (through its Unix socket, [`socket`]) or, when no server is
//! running, by the CLI on the database directly ([`cli`]). One JSON request
//! and one JSON reply per command.

pub mod cli;
pub mod socket;

use std::sync::Arc;

use parasol_protocol::StaffRole;
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, Audit, AuditEntry};
use crate::staff::{AccountSummary, NewAccount, Staff, StaffError};
use crate::stats::{Day, Stats};

/// One admin command. Accounts are named by username.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminRequest {
    CreateStaff {
        username: String,
        display_name: String,
        role: StaffRole,
        languages: Vec<String>,
        max_chats: u8,
        password: String,
    },
    Disable {
        username: String,
    },
    Enable {
        username: String,
    },
    ResetPassword {
        username: String,
        password: String,
    },
    EnableTotp {
        username: String,
    },
    DisableTotp {
        username: String,
    },
    RevokeSessions {
        username: String,
    },
    List,
    Stats {
        from: Day,
        to: Day,
    },
    Audit {
        since: u64,
        limit: usize,
    },
    /// Run the retention purge now, even while the clock guard holds it
    /// (`crate::purge_guard`). Needs a running server.
    Purge,
}

/// The answer to one command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminReply {
    Account {
        account: AccountSummary,
    },
    Accounts {
        accounts: Vec<AccountSummary>,
    },
    Done,
    /// The `otpauth://` URI of a new TOTP secret.
    TotpUri {
        uri: String,
    },
    Csv {
        csv: String,
    },
    Audit {
        entries: Vec<AuditEntry>,
    },
    Purged {
        summary: crate::purge_guard::PurgeSummary,
    },
    Error {
        message: String,
    },
}

/// The services admin commands act on.
#[derive(Clone)]
pub struct AdminContext {
    pub staff: Arc<Staff>,
    /// Erased with the account's password, sessions or access.
    pub staff_vault: Arc<crate::staff_vault::StaffVault>,
    pub audit: Arc<Audit>,
    pub stats: Arc<Stats>,
    /// The running server's purge loop (`None` when the CLI opened the
    /// database itself: no server, no purge to confirm).
    pub purge: Option<crate::purge_guard::PurgeRequests>,
}

fn error(e: impl std::fmt::Display) -> AdminReply {
    AdminReply::Error { message: e.to_string() }
}

impl AdminContext {
    pub fn of(services: &crate::Services) -> Self {
        AdminContext {
            staff: services.staff.clone(),
            staff_vault: services.staff_vault.clone(),
            audit: services.audit.clone(),
            stats: services.stats.clone(),
            purge: Some(services.purge_requests.clone()),
        }
    }

    /// Erase the account's vault, after its sessions ended (so no console
    /// can write it again): the sealed state is unreadable after a password
    /// reset, and a disabled or revoked account must not get it back.
    async fn erase_vault(&self, account_id: u64) -> Result<(), StaffError> {
        self.staff_vault.erase(account_id).await.map_err(|e| match e {
            crate::staff_vault::VaultError::Storage(s) => StaffError::Storage(s),
            other => StaffError::Storage(crate::storage::StorageError::Corrupt(other.to_string())),
        })?;
        Ok(())
    }

    async fn id_of(&self, username: &str) -> Result<u64, StaffError> {
        Ok(self.staff.get_by_username(username).await?.account_id)
    }

    /// Run one command. Everything is recorded in the audit log as done by
    /// [`Actor::System`] (the operator at the server's console).
    pub async fn execute(&self, request: AdminRequest) -> AdminReply {
        match self.try_execute(request).await {
            Ok(reply) => reply,
            Err(StaffError::Storage(e)) => {
                tracing::error!(error = %e, "admin command failed on storage");
                error("storage error; see the server log")
            }
            Err(e) => error(e),
        }
    }

    async fn try_execute(&self, request: AdminRequest) -> Result<AdminReply, StaffError> {
        let by = Actor::System;
        Ok(match request {
            AdminRequest::CreateStaff {
                username,
                display_name,
                role,
                languages,
                max_chats,
                password,
            } => {
                let account = self
                    .staff
                    .create(
                        NewAccount {
                            username,
                            display_name,
                            role,
                            languages,
                            max_concurrent_chats: max_chats,
                            password,
                        },
                        by,
                    )
                    .await?;
                AdminReply::Account { account }
            }
            AdminRequest::Disable { username } => {
                let id = self.id_of(&username).await?;
                let account = self.staff.disable(id, by).await?;
                self.erase_vault(id).await?;
                AdminReply::Account { account }
            }
            AdminRequest::Enable { username } => AdminReply::Account {
                account: self.staff.enable(self.id_of(&username).await?, by).await?,
            },
            AdminRequest::ResetPassword { username, password } => {
                let id = self.id_of(&username).await?;
                self.staff.reset_password(id, &password, by).await?;
                self.erase_vault(id).await?;
                AdminReply::Done
            }
            AdminRequest::EnableTotp { username } => AdminReply::TotpUri {
                uri: self.staff.enable_totp(self.id_of(&username).await?, by).await?,
            },
            AdminRequest::DisableTotp { username } => {
                self.staff.disable_totp(self.id_of(&username).await?, by).await?;
                AdminReply::Done
            }
            AdminRequest::RevokeSessions { username } => {
                let id = self.id_of(&username).await?;
                self.staff.revoke_all(id, by).await?;
                self.erase_vault(id).await?;
                AdminReply::Done
            }
            AdminRequest::List => AdminReply::Accounts {
                accounts: self.staff.list().await?,
            },
            // Counts queued on the state owner first, so the export is current.
            AdminRequest::Stats { from, to } => {
                let csv = match self.stats.settle().await {
                    Ok(()) => self.stats.export_csv(from, to).await,
                    Err(e) => Err(e),
                };
                match csv {
                    Ok(csv) => AdminReply::Csv { csv },
                    Err(crate::stats::StatsError::Storage(e)) => return Err(StaffError::Storage(e)),
                    Err(e) => error(e),
                }
            }
            AdminRequest::Audit { since, limit } => AdminReply::Audit {
                entries: self.audit.list(since, limit).await?,
            },
            AdminRequest::Purge => self.purge().await,
        })
    }

    async fn purge(&self) -> AdminReply {
        let Some(requests) = &self.purge else {
            return error("no server is running: the purge runs in the server; start it, then confirm again");
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        if requests.send(tx).await.is_err() {
            return error("the server is shutting down");
        }
        match rx.await {
            Ok(Ok(summary)) => AdminReply::Purged { summary },
            Ok(Err(e)) => error(e),
            Err(_) => error("the server is shutting down"),
        }
    }
}

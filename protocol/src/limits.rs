//! Protocol limits. The server enforces the values of its configuration,
//! whose defaults are these; every one is reported as a typed error when
//! exceeded. PROTOCOL.md lists them.

/// Largest frame the protocol accepts (bytes). Larger frames get
/// `frame_too_large`; frames past [`TRANSPORT_SLACK_BYTES`] more than this
/// close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Extra bytes the transport reads before giving up on a frame, so that a
/// frame slightly over the limit still gets a typed error.
pub const TRANSPORT_SLACK_BYTES: usize = 64 * 1024;
/// Largest single MLS message (commit, welcome, application message). Text
/// chat needs far less; a commit adding 50 members needs about 25 KiB.
pub const MAX_MLS_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest ratchet tree or GroupInfo accepted with a commit bundle.
pub const MAX_GROUP_STATE_BYTES: usize = 256 * 1024;
/// Largest key package (a normal one is about 300 bytes).
pub const MAX_KEY_PACKAGE_BYTES: usize = 8 * 1024;
/// One-time key packages a client may have stored at once.
pub const MAX_KEY_PACKAGES_PER_CLIENT: u32 = 100;
/// Key packages in one `publish_key_packages` request.
pub const MAX_KEY_PACKAGES_PER_PUBLISH: usize = 100;
/// Longest key package lifetime the directory accepts (90 days, in seconds).
pub const MAX_KEY_PACKAGE_LIFETIME_SECS: u64 = 90 * 24 * 3600;
/// Groups a client may be a member of.
pub const MAX_GROUPS_PER_CLIENT: u32 = 100;
/// Members in one group.
pub const MAX_MEMBERS_PER_GROUP: u32 = 100;
/// Envelopes waiting in one client's mailbox.
pub const MAX_MAILBOX_ENVELOPES: u64 = 10_000;
/// Envelopes returned by one `fetch_backlog`.
pub const MAX_FETCH_LIMIT: u32 = 500;
/// Pushed envelopes a connection may have unacknowledged before the server
/// pauses pushing (flow control).
pub const PUSH_WINDOW: u64 = 1024;

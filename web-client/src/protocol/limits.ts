// Protocol limits (defaults of the server's configuration), mirroring
// protocol/src/limits.rs. The server enforces its configured values and
// reports each as a typed error; the client uses these to avoid sending
// what would certainly be refused.

/** Largest frame the protocol accepts, in bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Largest single MLS message (commit, Welcome, application message). */
export const MAX_MLS_MESSAGE_BYTES = 64 * 1024;
/** Largest ratchet tree or GroupInfo accepted with a commit bundle. */
export const MAX_GROUP_STATE_BYTES = 256 * 1024;
/** Largest key package. */
export const MAX_KEY_PACKAGE_BYTES = 8 * 1024;
/** Key packages in one `publish_key_packages` request. */
export const MAX_KEY_PACKAGES_PER_PUBLISH = 100;
/** Longest key-package lifetime the directory accepts (90 days, in seconds). */
export const MAX_KEY_PACKAGE_LIFETIME_SECS = 90 * 24 * 3600;
/** Envelopes returned by one `fetch_backlog`. */
export const MAX_FETCH_LIMIT = 500;

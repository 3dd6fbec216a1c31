//! Staff roles. (The attestation transcript joins this file.)

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Counsellor,
    Supervisor,
    CrisisResponder,
    Admin,
}

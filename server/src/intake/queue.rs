//! Serving order and positions: pure functions over the waiting tickets.
//!
//! Order: chats handed back by a counsellor who clocked out first (they
//! were already being served), then urgent, then oldest. A visitor's
//! position counts only tickets of the same language: those are the ones
//! ahead of them for the counsellors who can answer them.

use std::cmp::Ordering;

/// What ordering needs to know about a waiting ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting<'a> {
    pub ticket_id: u64,
    pub language: &'a str,
    pub handover: bool,
    pub urgent: bool,
    /// Arrival order (a counter, so equal seconds still order).
    pub arrival: u64,
}

/// Serving order: smaller first.
pub fn serving_order(a: &Waiting<'_>, b: &Waiting<'_>) -> Ordering {
    (!a.handover, !a.urgent, a.arrival).cmp(&(!b.handover, !b.urgent, b.arrival))
}

/// Sort in serving order.
pub fn sort(tickets: &mut [Waiting<'_>]) {
    tickets.sort_by(serving_order);
}

/// Position (from 1) of every ticket among those of its language, given
/// tickets already in serving order.
pub fn positions(sorted: &[Waiting<'_>]) -> Vec<(u64, u32)> {
    let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    sorted
        .iter()
        .map(|t| {
            let n = seen.entry(t.language).or_insert(0);
            *n += 1;
            (t.ticket_id, *n)
        })
        .collect()
}

/// Estimated wait for a position: the observed seconds per position ahead,
/// shared among the counsellors who speak the language (at least one, so a
/// queue with nobody on shift still shows a finite, honest guess).
pub fn estimate_wait_secs(position: u32, secs_per_position: f64, counsellors: usize) -> u32 {
    let per = secs_per_position.max(1.0) / counsellors.max(1) as f64;
    (per * f64::from(position)).ceil().min(f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ticket_id: u64, language: &str, handover: bool, urgent: bool, arrival: u64) -> Waiting<'_> {
        Waiting {
            ticket_id,
            language,
            handover,
            urgent,
            arrival,
        }
    }

    #[test]
    fn handover_then_urgent_then_oldest() {
        let mut q = vec![
            w(1, "mk", false, false, 1),
            w(2, "mk", false, true, 5),
            w(3, "mk", true, false, 9),
            w(4, "mk", false, true, 3),
            w(5, "mk", false, false, 0),
        ];
        sort(&mut q);
        let order: Vec<u64> = q.iter().map(|t| t.ticket_id).collect();
        assert_eq!(order, vec![3, 4, 2, 5, 1]);
    }

    #[test]
    fn positions_count_per_language() {
        let mut q = vec![
            w(1, "mk", false, false, 1),
            w(2, "sq", false, false, 2),
            w(3, "mk", false, true, 3),
            w(4, "sq", false, false, 4),
        ];
        sort(&mut q);
        let p: std::collections::HashMap<u64, u32> = positions(&q).into_iter().collect();
        assert_eq!(p[&3], 1);
        assert_eq!(p[&1], 2);
        assert_eq!(p[&2], 1);
        assert_eq!(p[&4], 2);
    }

    #[test]
    fn estimates_scale_with_position_and_shrink_with_counsellors() {
        assert_eq!(estimate_wait_secs(1, 120.0, 0), 120);
        assert_eq!(estimate_wait_secs(3, 120.0, 1), 360);
        assert_eq!(estimate_wait_secs(3, 120.0, 2), 180);
    }
}

//! Who gets an offer: among the counsellors who are available, speak the
//! ticket's language, have room under their cap and have not passed on
//! this ticket yet, the one with the fewest chats (ties: the one who has
//! waited longest since their last chat).

use std::collections::HashSet;

/// What routing needs to know about a counsellor.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub account_id: u64,
    pub available: bool,
    pub languages: &'a [String],
    /// Chats held plus offers outstanding: both count against the cap.
    pub load: u32,
    pub max_chats: u32,
    pub last_assigned: u64,
}

impl Candidate<'_> {
    pub fn can_take(&self, language: &str) -> bool {
        self.available && self.load < self.max_chats && self.languages.iter().any(|l| l == language)
    }
}

/// The counsellor to offer the ticket to. When everyone able has passed,
/// the passes are forgotten (`None` plus `exhausted`): the caller clears
/// them and asks again, so a ticket is never stranded.
pub fn choose(candidates: &[Candidate<'_>], language: &str, passed: &HashSet<u64>) -> Choice {
    let able: Vec<&Candidate<'_>> = candidates.iter().filter(|c| c.can_take(language)).collect();
    if able.is_empty() {
        return Choice::Nobody;
    }
    match able
        .iter()
        .filter(|c| !passed.contains(&c.account_id))
        .min_by_key(|c| (c.load, c.last_assigned, c.account_id))
    {
        Some(c) => Choice::Offer(c.account_id),
        None => Choice::AllPassed,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    Offer(u64),
    /// Someone could take it, but all of them passed already.
    AllPassed,
    Nobody,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(account_id: u64, languages: &[String], load: u32, max_chats: u32, last_assigned: u64) -> Candidate<'_> {
        Candidate {
            account_id,
            available: true,
            languages,
            load,
            max_chats,
            last_assigned,
        }
    }

    #[test]
    fn fewest_chats_then_longest_idle_with_the_language() {
        let mk = vec!["mk".to_string()];
        let sq = vec!["sq".to_string()];
        let cs = vec![
            c(1, &mk, 2, 3, 0),
            c(2, &mk, 1, 3, 50),
            c(3, &mk, 1, 3, 10),
            c(4, &sq, 0, 3, 0),
        ];
        assert_eq!(choose(&cs, "mk", &HashSet::new()), Choice::Offer(3));
        assert_eq!(choose(&cs, "sq", &HashSet::new()), Choice::Offer(4));
        assert_eq!(choose(&cs, "en", &HashSet::new()), Choice::Nobody);
    }

    #[test]
    fn full_or_unavailable_counsellors_get_nothing_and_passes_are_respected() {
        let mk = vec!["mk".to_string()];
        let mut cs = vec![c(1, &mk, 3, 3, 0), c(2, &mk, 0, 3, 0)];
        cs[1].available = false;
        assert_eq!(choose(&cs, "mk", &HashSet::new()), Choice::Nobody);
        cs[1].available = true;
        assert_eq!(choose(&cs, "mk", &HashSet::from([2])), Choice::AllPassed);
    }
}

//! Anonymous aggregate statistics for donor reports. It owns the sled tree
//! `stats`, which holds only per-day counters and a per-day histogram of
//! waiting times: never a row per chat, so a stored day says how many chats
//! there were by topic, by language and by closing tag, and never which
//! chat had which. Exports suppress every count under 5.

mod day;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

pub use day::{BadDate, Day};

use crate::config::StatsConfig;
use crate::storage::owner::StateOwner;
use crate::storage::StorageError;

/// The sled tree this room owns.
pub const TREE: &str = "stats";
/// Distinct topics (and languages, closing tags) counted per day; more
/// count as `other`.
pub const MAX_VALUES_PER_DAY: usize = 64;
/// Longest day range one export covers.
pub const MAX_EXPORT_DAYS: u32 = 3660;
/// Counts under this are written as `<5`.
pub const SUPPRESS_BELOW: u64 = 5;

const TOTAL: u8 = b'c';
const TRANSFERS: u8 = b'x';
const ESCALATIONS: u8 = b'e';
const TOPIC: u8 = b't';
const LANGUAGE: u8 = b'l';
const CLOSING: u8 = b'g';
const WAIT: u8 = b'w';
const FEEDBACK: u8 = b'f';

/// One finished chat, as the statistics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary<'a> {
    /// The day the chat was requested.
    pub day: Day,
    /// A configured topic name; anything not `[a-z0-9_-]{1,32}` counts as `other`.
    pub topic: &'a str,
    /// ISO 639-1 code.
    pub language: &'a str,
    /// Seconds from request to accept.
    pub wait_secs: u64,
    pub transferred: bool,
    pub escalated: bool,
    /// The closing topic tag chosen by the counsellor.
    pub closing_tag: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("the export range is empty or longer than {MAX_EXPORT_DAYS} days")]
    BadRange,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for StatsError {
    fn from(e: sled::Error) -> Self {
        StatsError::Storage(e.into())
    }
}

/// Upper edges (seconds) of the wait-time buckets: 10 s wide up to 10 min,
/// 1 min up to 2 h, 15 min up to a day; the last bucket is everything longer.
fn bucket_edges() -> &'static [u64] {
    static EDGES: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    EDGES.get_or_init(|| {
        let mut e: Vec<u64> = (1..=60).map(|i| i * 10).collect();
        e.extend((11..=120).map(|i| i * 60));
        e.extend((9..=96).map(|i| i * 900));
        e.push(u64::MAX);
        e
    })
}

fn bucket_of(wait_secs: u64) -> usize {
    bucket_edges().partition_point(|&edge| edge < wait_secs)
}

/// The upper edge of the bucket holding the `q`-quantile, or `None` for
/// the open-ended last bucket.
fn percentile(histogram: &[u64], q: f64) -> Option<u64> {
    let n: u64 = histogram.iter().sum();
    let rank = ((q * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_edges().get(i).copied().filter(|&e| e != u64::MAX);
        }
    }
    None
}

fn clean_name(s: &str) -> &str {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        s
    } else {
        "other"
    }
}

fn key(day: Day, kind: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + name.len());
    k.extend_from_slice(&day.0.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode_u64(v: &[u8]) -> Result<u64, StorageError> {
    Ok(u64::from_be_bytes(
        v.try_into()
            .map_err(|_| StorageError::Corrupt("stats counter".into()))?,
    ))
}

fn cell(count: u64) -> String {
    if count < SUPPRESS_BELOW {
        "<5".to_string()
    } else {
        count.to_string()
    }
}

/// One day's counters, read back.
#[derive(Debug, Default)]
struct DayCounts {
    total: u64,
    transfers: u64,
    escalations: u64,
    topics: Vec<(String, u64)>,
    languages: Vec<(String, u64)>,
    closing: Vec<(String, u64)>,
    feedback: Vec<(String, u64)>,
    histogram: Vec<u64>,
}

/// The statistics. Counting is queued on the storage's state owner, so a
/// chat that ends in a clock tick never writes sled on an async worker.
pub struct Stats {
    owner: StateOwner,
    counters: Arc<Counters>,
}

/// The counters' tree, written by the owner thread.
struct Counters {
    tree: sled::Tree,
    config: StatsConfig,
}

/// A [`ChatSummary`] that owns its names, to be counted later.
struct OwnedSummary {
    day: Day,
    topic: String,
    language: String,
    wait_secs: u64,
    transferred: bool,
    escalated: bool,
    closing_tag: String,
}

impl Stats {
    pub fn open(db: &sled::Db, owner: StateOwner, config: StatsConfig) -> Result<Self, StatsError> {
        Ok(Stats {
            owner,
            counters: Arc::new(Counters {
                tree: db.open_tree(TREE)?,
                config,
            }),
        })
    }

    /// Count one finished chat (queued; durable with the owner's next flush).
    pub fn record_chat(&self, chat: &ChatSummary<'_>) -> Result<(), StatsError> {
        let owned = OwnedSummary {
            day: chat.day,
            topic: chat.topic.to_string(),
            language: chat.language.to_string(),
            wait_secs: chat.wait_secs,
            transferred: chat.transferred,
            escalated: chat.escalated,
            closing_tag: chat.closing_tag.to_string(),
        };
        let counters = self.counters.clone();
        self.owner.write_nowait(move || {
            counters
                .record_chat(&ChatSummary {
                    day: owned.day,
                    topic: &owned.topic,
                    language: &owned.language,
                    wait_secs: owned.wait_secs,
                    transferred: owned.transferred,
                    escalated: owned.escalated,
                    closing_tag: &owned.closing_tag,
                })
                .map_err(|e| StorageError::Unavailable(e.to_string()))
        })?;
        Ok(())
    }

    /// Count one answer to the feedback question (queued like
    /// [`Stats::record_chat`]).
    pub fn record_feedback(&self, day: Day, answer: &str) -> Result<(), StatsError> {
        let (counters, answer) = (self.counters.clone(), answer.to_string());
        self.owner.write_nowait(move || {
            counters
                .record_feedback(day, &answer)
                .map_err(|e| StorageError::Unavailable(e.to_string()))
        })?;
        Ok(())
    }

    /// Every queued count is on disk (for exports and tests).
    pub async fn settle(&self) -> Result<(), StatsError> {
        self.owner.sync().await?;
        Ok(())
    }

    /// Read on the blocking pool (see storage's rule).
    pub async fn export_csv(&self, from: Day, to: Day) -> Result<String, StatsError> {
        let counters = self.counters.clone();
        crate::storage::owner::read(move || counters.export_csv(from, to)).await
    }

    /// Delete days past retention, on the state owner like every write.
    pub async fn purge(&self, today: Day) -> Result<usize, StatsError> {
        let counters = self.counters.clone();
        self.owner.write(move || counters.purge(today)).await
    }
}

impl Counters {
    /// A dimension value to count under: itself if valid and (for the day)
    /// among the first [`MAX_VALUES_PER_DAY`], else `other`.
    fn bounded_name<'a>(&self, day: Day, kind: u8, name: &'a str) -> Result<&'a str, StatsError> {
        let name = clean_name(name);
        if self.tree.contains_key(key(day, kind, name))? {
            return Ok(name);
        }
        let seen = self
            .tree
            .scan_prefix(key(day, kind, ""))
            .take(MAX_VALUES_PER_DAY)
            .count();
        Ok(if seen >= MAX_VALUES_PER_DAY { "other" } else { name })
    }

    /// Count one finished chat (atomically; flushed with the next flush).
    pub fn record_chat(&self, chat: &ChatSummary<'_>) -> Result<(), StatsError> {
        let day = chat.day;
        let mut counters = vec![
            key(day, TOTAL, ""),
            key(day, TOPIC, self.bounded_name(day, TOPIC, chat.topic)?),
            key(day, LANGUAGE, self.bounded_name(day, LANGUAGE, chat.language)?),
            key(day, CLOSING, self.bounded_name(day, CLOSING, chat.closing_tag)?),
        ];
        if chat.transferred {
            counters.push(key(day, TRANSFERS, ""));
        }
        if chat.escalated {
            counters.push(key(day, ESCALATIONS, ""));
        }
        let wait_key = key(day, WAIT, "");
        let bucket = bucket_of(chat.wait_secs);
        // One atomic update per key, no transaction (see storage's rule):
        // a crash between them can leave one chat half counted, which
        // statistics rounded and suppressed below 5 can bear.
        for k in &counters {
            let mut failed = None;
            self.tree.update_and_fetch(k, |old| {
                let n = match old.map(decode_u64) {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => {
                        failed = Some(e);
                        return old.map(<[u8]>::to_vec);
                    }
                    None => 0,
                };
                Some((n + 1).to_be_bytes().to_vec())
            })?;
            if let Some(e) = failed {
                return Err(StatsError::Storage(e));
            }
        }
        let mut failed = None;
        self.tree.update_and_fetch(&wait_key, |old| {
            let mut hist: Vec<u64> = match old.map(rmp_serde::from_slice::<Vec<u64>>) {
                Some(Ok(h)) => h,
                Some(Err(e)) => {
                    failed = Some(StorageError::Corrupt(e.to_string()));
                    return old.map(<[u8]>::to_vec);
                }
                None => Vec::new(),
            };
            hist.resize(bucket_edges().len().max(hist.len()), 0);
            hist[bucket] += 1;
            Some(rmp_serde::to_vec(&hist).expect("a list of integers always serializes"))
        })?;
        match failed {
            Some(e) => Err(StatsError::Storage(e)),
            None => Ok(()),
        }
    }

    /// Count one answer to the feedback question on `day` (no link to any
    /// chat: the answer arrives after the chat's own counters).
    pub fn record_feedback(&self, day: Day, answer: &str) -> Result<(), StatsError> {
        let k = key(day, FEEDBACK, self.bounded_name(day, FEEDBACK, answer)?);
        self.tree.update_and_fetch(&k, |old| {
            let n = old.and_then(|v| decode_u64(v).ok()).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    fn read_day(&self, day: Day) -> Result<DayCounts, StatsError> {
        let mut c = DayCounts::default();
        for item in self.tree.scan_prefix(day.0.to_be_bytes()) {
            let (k, v) = item?;
            let name = String::from_utf8_lossy(&k[5..]).into_owned();
            match k[4] {
                TOTAL => c.total = decode_u64(&v)?,
                TRANSFERS => c.transfers = decode_u64(&v)?,
                ESCALATIONS => c.escalations = decode_u64(&v)?,
                TOPIC => c.topics.push((name, decode_u64(&v)?)),
                LANGUAGE => c.languages.push((name, decode_u64(&v)?)),
                CLOSING => c.closing.push((name, decode_u64(&v)?)),
                FEEDBACK => c.feedback.push((name, decode_u64(&v)?)),
                WAIT => c.histogram = rmp_serde::from_slice(&v).map_err(|e| StorageError::Corrupt(e.to_string()))?,
                _ => {}
            }
        }
        Ok(c)
    }

    /// CSV of the days `from..=to`, one row per day:
    /// `date, chats, transfers, escalations, wait_p50_secs, wait_p90_secs,
    /// wait_p99_secs`, then a column per topic (`topic:NAME`), language
    /// (`language:CODE`), closing tag (`closing:TAG`) and feedback answer
    /// (`feedback:ANSWER`, counted on the day it was given) seen in the range.
    /// Every count under 5 is written `<5`; so are the percentiles of a
    /// day with fewer than 5 chats. A percentile is the upper edge of its
    /// bucket (10 s wide up to 10 min, 1 min up to 2 h, 15 min up to a
    /// day; `>86400` beyond).
    pub fn export_csv(&self, from: Day, to: Day) -> Result<String, StatsError> {
        if to < from || to.0 - from.0 >= MAX_EXPORT_DAYS {
            return Err(StatsError::BadRange);
        }
        let mut days = Vec::new();
        let (mut topics, mut languages, mut closing) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut feedback = BTreeSet::new();
        let mut d = from;
        while d <= to {
            let counts = self.read_day(d)?;
            topics.extend(counts.topics.iter().map(|(n, _)| n.clone()));
            languages.extend(counts.languages.iter().map(|(n, _)| n.clone()));
            closing.extend(counts.closing.iter().map(|(n, _)| n.clone()));
            feedback.extend(counts.feedback.iter().map(|(n, _)| n.clone()));
            days.push((d, counts));
            if d == to {
                break;
            }
            d = d.next();
        }
        let mut out = String::from("date,chats,transfers,escalations,wait_p50_secs,wait_p90_secs,wait_p99_secs");
        for (prefix, names) in [
            ("topic", &topics),
            ("language", &languages),
            ("closing", &closing),
            ("feedback", &feedback),
        ] {
            for n in names {
                let _ = write!(out, ",{prefix}:{n}");
            }
        }
        out.push('\n');
        for (day, c) in &days {
            let _ = write!(
                out,
                "{day},{},{},{}",
                cell(c.total),
                cell(c.transfers),
                cell(c.escalations)
            );
            for q in [0.5, 0.9, 0.99] {
                if c.total < SUPPRESS_BELOW {
                    out.push_str(",<5");
                } else {
                    match percentile(&c.histogram, q) {
                        Some(secs) => {
                            let _ = write!(out, ",{secs}");
                        }
                        None => out.push_str(",>86400"),
                    }
                }
            }
            for (names, values) in [
                (&topics, &c.topics),
                (&languages, &c.languages),
                (&closing, &c.closing),
                (&feedback, &c.feedback),
            ] {
                for n in names {
                    let count = values.iter().find(|(v, _)| v == n).map(|(_, c)| *c).unwrap_or(0);
                    let _ = write!(out, ",{}", cell(count));
                }
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// Delete days older than the retention period; returns how many keys.
    pub fn purge(&self, today: Day) -> Result<usize, StatsError> {
        let cutoff = today
            .0
            .saturating_sub(u32::try_from(self.config.retention_days).unwrap_or(u32::MAX));
        let mut n = 0;
        for k in self.tree.range(..cutoff.to_be_bytes().to_vec()).keys() {
            self.tree.remove(k?)?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Stats) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let stats = Stats::open(
            &db,
            crate::storage::owner::for_tests(&db),
            StatsConfig { retention_days: 30 },
        )
        .unwrap();
        (dir, stats)
    }

    fn chat(day: u32, topic: &'static str, language: &'static str, wait_secs: u64) -> ChatSummary<'static> {
        ChatSummary {
            day: Day(day),
            topic,
            language,
            wait_secs,
            transferred: false,
            escalated: false,
            closing_tag: "resolved",
        }
    }

    fn rows(csv: &str) -> Vec<Vec<String>> {
        csv.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
        let i = rows[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        rows[1..].iter().map(|r| r[i].clone()).collect()
    }

    #[tokio::test]
    async fn counts_under_five_are_suppressed() {
        let (_d, stats) = open();
        // Day 100: 7 chats, 6 in mk about violence, 1 in sq about health;
        // 2 transfers, 5 escalations.
        for i in 0..6 {
            let mut c = chat(100, "violence", "mk", 30);
            c.transferred = i < 2;
            c.escalated = i < 5;
            stats.counters.record_chat(&c).unwrap();
        }
        stats.counters.record_chat(&chat(100, "health", "sq", 30)).unwrap();
        // Day 101: 4 chats: everything suppressed, percentiles too.
        for _ in 0..4 {
            stats.counters.record_chat(&chat(101, "violence", "mk", 30)).unwrap();
        }
        let csv = stats.export_csv(Day(100), Day(102)).await.unwrap();
        let r = rows(&csv);
        assert_eq!(r.len(), 4, "{csv}");
        assert_eq!(column(&r, "date"), ["1970-04-11", "1970-04-12", "1970-04-13"]);
        assert_eq!(column(&r, "chats"), ["7", "<5", "<5"]);
        assert_eq!(column(&r, "transfers"), ["<5", "<5", "<5"]);
        assert_eq!(column(&r, "escalations"), ["5", "<5", "<5"]);
        assert_eq!(column(&r, "topic:violence"), ["6", "<5", "<5"]);
        assert_eq!(column(&r, "topic:health"), ["<5", "<5", "<5"]);
        assert_eq!(column(&r, "language:sq"), ["<5", "<5", "<5"]);
        assert_eq!(column(&r, "closing:resolved"), ["7", "<5", "<5"]);
        assert_eq!(column(&r, "wait_p50_secs"), ["30", "<5", "<5"]);
        assert_eq!(column(&r, "wait_p99_secs"), ["30", "<5", "<5"]);
        // No cell anywhere holds a count from 1 to 4.
        for row in &r[1..] {
            for v in &row[1..] {
                if let Ok(n) = v.parse::<u64>() {
                    assert!(n >= 5, "{csv}");
                }
            }
        }
    }

    #[tokio::test]
    async fn percentiles_follow_the_buckets() {
        let (_d, stats) = open();
        for w in [5, 15, 25, 35, 45, 55, 65, 75, 85, 1_000_000] {
            stats.counters.record_chat(&chat(7, "just-talk", "en", w)).unwrap();
        }
        let r = rows(&stats.export_csv(Day(7), Day(7)).await.unwrap());
        assert_eq!(column(&r, "wait_p50_secs"), ["50"]);
        assert_eq!(column(&r, "wait_p90_secs"), ["90"]);
        assert_eq!(column(&r, "wait_p99_secs"), [">86400"]);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10), 0);
        assert_eq!(bucket_of(11), 1);
        assert_eq!(bucket_edges()[bucket_of(7000)], 7020);
    }

    #[tokio::test]
    async fn odd_names_and_too_many_values_count_as_other() {
        let (_d, stats) = open();
        stats
            .counters
            .record_chat(&chat(1, "Name, with comma", "mk", 1))
            .unwrap();
        for i in 0..MAX_VALUES_PER_DAY + 3 {
            let topic: &'static str = Box::leak(format!("t{i}").into_boxed_str());
            stats.counters.record_chat(&chat(1, topic, "mk", 1)).unwrap();
        }
        let csv = stats.export_csv(Day(1), Day(1)).await.unwrap();
        let header = &rows(&csv)[0];
        assert!(header.contains(&"topic:other".to_string()));
        assert!(!csv.contains("comma"));
        assert_eq!(
            header.iter().filter(|h| h.starts_with("topic:")).count(),
            MAX_VALUES_PER_DAY
        );
    }

    #[tokio::test]
    async fn ranges_are_bounded_and_old_days_purged() {
        let (_d, stats) = open();
        assert!(matches!(
            stats.export_csv(Day(5), Day(4)).await,
            Err(StatsError::BadRange)
        ));
        assert!(matches!(
            stats.export_csv(Day(0), Day(MAX_EXPORT_DAYS)).await,
            Err(StatsError::BadRange)
        ));
        stats.counters.record_chat(&chat(10, "violence", "mk", 1)).unwrap();
        stats.counters.record_chat(&chat(50, "violence", "mk", 1)).unwrap();
        assert!(stats.purge(Day(60)).await.unwrap() > 0);
        assert!(stats.counters.read_day(Day(10)).unwrap().total == 0);
        assert_eq!(stats.counters.read_day(Day(50)).unwrap().total, 1);
    }
}

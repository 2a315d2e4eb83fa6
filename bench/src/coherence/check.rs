//! Checks every logged read against the writes and reads that ended before
//! it started. A write counts as committed when its update call returned,
//! so each check only flags reads that were certainly behind.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{HotKey, Kind, Operation, Outcome, Plan};

/// Examples of each kind of violation kept for the report.
const EXAMPLES: usize = 5;

/// Counts of one worker process.
#[derive(Default, Clone, Copy)]
struct Counts {
    reads: u64,
    writes: u64,
    conflicts: u64,
    errors: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Read => self.reads += 1,
            Outcome::Write => self.writes += 1,
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Error => self.errors += 1,
        }
    }
}

/// Violations and delays found on the keys of one backend.
#[derive(Default, Clone, Copy)]
struct Findings {
    reads: u64,
    /// Reads behind a write that their own process had finished.
    stale_reads: u64,
    /// Reads of a lower version than an earlier read of their process saw.
    version_regressions: u64,
    /// Reads that were neither stale nor a regression.
    coherent_reads: u64,
    /// Reads of any process that began after a newer version was committed.
    late_reads: u64,
    worst_delay_micros: u64,
    /// Writes that produced a version another write had produced already,
    /// which optimistic concurrency must make impossible.
    duplicate_versions: u64,
    /// Writes that produced a lower version than a write committed before
    /// they started: the database's version went back.
    backward_writes: u64,
}

impl Findings {
    fn add(self, other: Findings) -> Findings {
        Findings {
            reads: self.reads + other.reads,
            stale_reads: self.stale_reads + other.stale_reads,
            version_regressions: self.version_regressions + other.version_regressions,
            coherent_reads: self.coherent_reads + other.coherent_reads,
            late_reads: self.late_reads + other.late_reads,
            worst_delay_micros: self.worst_delay_micros.max(other.worst_delay_micros),
            duplicate_versions: self.duplicate_versions + other.duplicate_versions,
            backward_writes: self.backward_writes + other.backward_writes,
        }
    }

    /// Reads that were neither stale nor a regression, over all reads.
    fn coherent_fraction(self) -> f64 {
        let fraction = self.coherent_reads as f64 / self.reads.max(1) as f64;
        (fraction * 10_000.0).round() / 10_000.0
    }

    fn to_json(self) -> Value {
        json!({
            "reads": self.reads,
            "coherent_read_fraction": self.coherent_fraction(),
            "stale_reads": self.stale_reads,
            "version_regressions": self.version_regressions,
            "late_reads": self.late_reads,
            "worst_delay_ms": millis(self.worst_delay_micros),
            "duplicate_versions": self.duplicate_versions,
            "backward_writes": self.backward_writes,
        })
    }
}

#[derive(Default)]
pub(super) struct Report {
    per_process: HashMap<usize, Counts>,
    /// Findings on catalogs (PostgreSQL) and on folders (MongoDB).
    catalogs: Findings,
    folders: Findings,
    stale_examples: Vec<Value>,
    regression_examples: Vec<Value>,
    /// The read with the longest delay over all keys, and that delay.
    worst_delay: Option<Value>,
    worst_delay_micros: u64,
    error_samples: Vec<String>,
}

impl Report {
    fn findings(&self) -> Findings {
        self.catalogs.add(self.folders)
    }

    /// Reads and writes that broke a rule. Late reads are measured as a
    /// delay instead.
    pub(super) fn violations(&self) -> u64 {
        let all = self.findings();
        all.stale_reads + all.version_regressions + all.duplicate_versions + all.backward_writes
    }

    fn total(&self) -> Counts {
        self.per_process
            .values()
            .fold(Counts::default(), |total, c| Counts {
                reads: total.reads + c.reads,
                writes: total.writes + c.writes,
                conflicts: total.conflicts + c.conflicts,
                errors: total.errors + c.errors,
            })
    }
}

pub(super) fn check(operations: &[Operation], keys: &[HotKey]) -> Report {
    let mut report = Report::default();
    for operation in operations {
        let counts = report.per_process.entry(operation.process).or_default();
        counts.add(operation.outcome);
        if let Some(error) = &operation.error {
            if report.error_samples.len() < EXAMPLES {
                report.error_samples.push(error.clone());
            }
        }
    }
    for (index, key) in keys.iter().enumerate() {
        let of_key: Vec<&Operation> = operations.iter().filter(|o| o.key == index).collect();
        let findings = check_key(&of_key, &mut report);
        match key.kind {
            Kind::Catalog => report.catalogs = report.catalogs.add(findings),
            Kind::Folder => report.folders = report.folders.add(findings),
        }
    }
    report
}

fn check_key(operations: &[&Operation], report: &mut Report) -> Findings {
    let writes: Vec<&Operation> = filter(operations, Outcome::Write);
    let reads: Vec<&Operation> = filter(operations, Outcome::Read);
    let commits = Commits::new(&writes);
    let mut findings = Findings {
        reads: reads.len() as u64,
        duplicate_versions: commits.duplicates,
        backward_writes: backward_writes(&writes),
        ..Findings::default()
    };
    let own_writes = by_process(&writes);
    let own_reads = by_process(&reads);
    for read in &reads {
        let stale = own_writes.max_before(read.process, read.start_micros) > read.version;
        let regressed = own_reads.max_before(read.process, read.start_micros) > read.version;
        if stale {
            findings.stale_reads += 1;
            push_example(&mut report.stale_examples, read, "own write");
        }
        if regressed {
            findings.version_regressions += 1;
            push_example(&mut report.regression_examples, read, "earlier read");
        }
        if !stale && !regressed {
            findings.coherent_reads += 1;
        }
        record_delay(read, &commits, &mut findings, report);
    }
    findings
}

fn backward_writes(writes: &[&Operation]) -> u64 {
    let all = Horizon::new(writes.iter().map(|w| (w.end_micros, w.version)).collect());
    let behind = writes
        .iter()
        .filter(|w| all.max_before(w.start_micros) > w.version);
    behind.count() as u64
}

fn filter<'a>(operations: &[&'a Operation], outcome: Outcome) -> Vec<&'a Operation> {
    operations
        .iter()
        .copied()
        .filter(|o| o.outcome == outcome)
        .collect()
}

fn by_process(operations: &[&Operation]) -> ByProcess {
    let mut events: HashMap<usize, Vec<(u64, i64)>> = HashMap::new();
    for operation in operations {
        events
            .entry(operation.process)
            .or_default()
            .push((operation.end_micros, operation.version));
    }
    ByProcess(
        events
            .into_iter()
            .map(|(process, events)| (process, Horizon::new(events)))
            .collect(),
    )
}

/// One horizon per process.
struct ByProcess(HashMap<usize, Horizon>);

impl ByProcess {
    /// Highest version among the process's events that ended before `t`;
    /// 0 when none did.
    fn max_before(&self, process: usize, t: u64) -> i64 {
        self.0.get(&process).map_or(0, |h| h.max_before(t))
    }
}

/// Events ordered by end time, for "the highest version of an event that
/// ended before `t`".
struct Horizon {
    ends: Vec<u64>,
    /// Highest version among the events up to each index.
    max_versions: Vec<i64>,
}

impl Horizon {
    fn new(mut events: Vec<(u64, i64)>) -> Horizon {
        events.sort_unstable();
        let ends = events.iter().map(|(end, _)| *end).collect();
        let mut highest = i64::MIN;
        let max_versions = events
            .iter()
            .map(|(_, version)| {
                highest = highest.max(*version);
                highest
            })
            .collect();
        Horizon { ends, max_versions }
    }

    /// Highest version among events that ended before `t`; 0 when none did.
    fn max_before(&self, t: u64) -> i64 {
        let count = self.ends.partition_point(|&end| end < t);
        match count {
            0 => 0,
            n => self.max_versions[n - 1],
        }
    }
}

/// Committed writes of one key ordered by version, for "when was the first
/// version newer than `v` committed".
struct Commits {
    versions: Vec<i64>,
    /// Earliest end among the writes from each index on.
    first_end_from: Vec<u64>,
    duplicates: u64,
}

impl Commits {
    fn new(writes: &[&Operation]) -> Commits {
        let mut events: Vec<(i64, u64)> =
            writes.iter().map(|w| (w.version, w.end_micros)).collect();
        events.sort_unstable();
        let duplicates = events.windows(2).filter(|w| w[0].0 == w[1].0).count() as u64;
        let versions = events.iter().map(|(version, _)| *version).collect();
        let mut earliest = u64::MAX;
        let mut first_end_from: Vec<u64> = events
            .iter()
            .rev()
            .map(|(_, end)| {
                earliest = earliest.min(*end);
                earliest
            })
            .collect();
        first_end_from.reverse();
        Commits {
            versions,
            first_end_from,
            duplicates,
        }
    }

    /// The first newer version and when its write returned.
    fn first_newer(&self, version: i64) -> Option<(i64, u64)> {
        let index = self.versions.partition_point(|&v| v <= version);
        let end = *self.first_end_from.get(index)?;
        Some((self.versions[index], end))
    }
}

/// Tracks how long after a newer version was committed this read still
/// returned an older one.
fn record_delay(read: &Operation, commits: &Commits, findings: &mut Findings, report: &mut Report) {
    let Some((newer, committed)) = commits.first_newer(read.version) else {
        return;
    };
    if read.start_micros <= committed {
        return;
    }
    findings.late_reads += 1;
    let delay = read.start_micros - committed;
    findings.worst_delay_micros = findings.worst_delay_micros.max(delay);
    if delay > report.worst_delay_micros {
        report.worst_delay_micros = delay;
        let mut example = example(read, "newer write");
        example["newer_version"] = json!(newer);
        example["newer_committed_micros"] = json!(committed);
        report.worst_delay = Some(example);
    }
}

fn push_example(examples: &mut Vec<Value>, read: &Operation, against: &str) {
    if examples.len() < EXAMPLES {
        examples.push(example(read, against));
    }
}

fn example(read: &Operation, against: &str) -> Value {
    json!({
        "against": against,
        "process": read.process,
        "task": read.task,
        "key": read.key,
        "version": read.version,
        "start_micros": read.start_micros,
        "end_micros": read.end_micros,
    })
}

/// Builds the suite's JSON report.
pub(super) fn to_json(
    report: &Report,
    plan: &Plan,
    workers: usize,
    summaries: Vec<Value>,
) -> Value {
    let total = report.total();
    let all = report.findings();
    json!({
        "suite": "coherence",
        "workers": workers,
        "tasks_per_worker": super::TASKS_PER_WORKER,
        "seconds": (plan.end_micros - plan.start_micros) / 1_000_000,
        "hot_keys": plan.keys,
        "reads": total.reads,
        "writes": total.writes,
        "conflicts": total.conflicts,
        "errors": total.errors,
        "stale_reads": all.stale_reads,
        "version_regressions": all.version_regressions,
        "late_reads": all.late_reads,
        "worst_delay_ms": millis(all.worst_delay_micros),
        "duplicate_versions": all.duplicate_versions,
        "backward_writes": all.backward_writes,
        "by_backend": {
            "postgres": report.catalogs.to_json(),
            "mongodb": report.folders.to_json(),
        },
        "examples": {
            "stale_reads": report.stale_examples,
            "version_regressions": report.regression_examples,
            "worst_delay": report.worst_delay,
            "errors": report.error_samples,
        },
        "per_worker": per_worker(report, summaries),
        "ratios": { "coherent_read_fraction": all.coherent_fraction() },
    })
}

/// Lists each worker's counts with the cache counters it reported.
fn per_worker(report: &Report, summaries: Vec<Value>) -> Vec<Value> {
    let worker = |(process, summary): (usize, Value)| {
        let counts = report
            .per_process
            .get(&process)
            .copied()
            .unwrap_or_default();
        json!({
            "process": process,
            "reads": counts.reads,
            "writes": counts.writes,
            "conflicts": counts.conflicts,
            "errors": counts.errors,
            "cache": summary["cache"],
        })
    };
    summaries.into_iter().enumerate().map(worker).collect()
}

fn millis(micros: u64) -> f64 {
    (micros as f64 / 100.0).round() / 10.0
}

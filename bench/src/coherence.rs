//! The `coherence` suite: worker processes, each with its own store and
//! cache, read and write a few hot records for a fixed time, and every read
//! is checked against the writes the workers committed.
//!
//! The parent seeds the records in a fresh schema, database and Redis
//! prefix, starts the workers (this binary run as `coherence-worker PLAN
//! INDEX`), and reads back the operation log each worker writes.

mod check;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use polystat::config::{ENV_CACHE_URL, ENV_DOCUMENTS_URL, ENV_RELATIONAL_URL};
use polystat::model::{Catalog, Folder};
use polystat::repo::Hooks;
use polystat::{Error, Repository, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::cache::{stats_json, Zipf};
use crate::fixtures::{
    drop_schema, fresh_name, required_url, with_database, with_prefix, with_schema,
};

/// Hot records of each kind: catalogs live in PostgreSQL, folders in MongoDB.
const HOT_PER_KIND: usize = 4;

/// Share of operations that are writes.
const WRITE_FRACTION: f64 = 0.25;

/// Skew of the key choice: with exponent 1 over 8 keys the hottest key gets
/// about 37 % of the operations.
const KEY_EXPONENT: f64 = 1.0;

/// Concurrent tasks in each worker. More than one lets reads and writes of
/// one process overlap, which tests the cache's in-process ordering too.
const TASKS_PER_WORKER: usize = 2;

/// Time the workers get to open their stores before the common start.
const START_DELAY: Duration = Duration::from_secs(3);

/// Number of workers and length of the mixed read and write phase.
struct Sizes {
    workers: usize,
    seconds: u64,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                workers: 3,
                seconds: 10,
            }
        } else {
            Sizes {
                workers: 4,
                seconds: 60,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Catalog,
    Folder,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HotKey {
    kind: Kind,
    id: Uuid,
}

/// Plan of the run that the parent hands every worker, as a JSON file.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    keys: Vec<HotKey>,
    /// Start and end of the mixed phase, in microseconds since the Unix epoch.
    start_micros: u64,
    end_micros: u64,
    log_dir: PathBuf,
}

/// Outcome of one logged operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Read,
    Write,
    Conflict,
    Error,
}

/// One line of a worker's log. `version` is the version a read returned or
/// a write produced, and 0 for conflicts and errors. Times are wall-clock
/// microseconds since the Unix epoch, comparable across the processes
/// because they run on one machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Operation {
    process: usize,
    task: usize,
    key: usize,
    outcome: Outcome,
    version: i64,
    start_micros: u64,
    end_micros: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn now_micros() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

/// The three server URLs of the run, narrowed to its own schema, database
/// and Redis prefix.
struct Servers {
    postgres: String,
    relational_url: String,
    documents_url: String,
    cache_url: String,
    documents_base: String,
    name: String,
}

impl Servers {
    fn from_env() -> anyhow::Result<Servers> {
        let postgres = required_url(ENV_RELATIONAL_URL, "postgres://")?;
        let mongodb = required_url(ENV_DOCUMENTS_URL, "mongodb://")?;
        let redis = required_url(ENV_CACHE_URL, "redis://")?;
        let name = fresh_name();
        Ok(Servers {
            relational_url: with_schema(&postgres, &name),
            documents_url: with_database(&mongodb, &name),
            cache_url: with_prefix(&redis, &name),
            documents_base: mongodb,
            postgres,
            name,
        })
    }

    fn config(&self) -> StoreConfig {
        StoreConfig {
            relational_url: self.relational_url.clone(),
            documents_url: self.documents_url.clone(),
            cache_url: self.cache_url.clone(),
            ..StoreConfig::default()
        }
    }

    /// Drops the run's schema and database. The Redis keys under the run's
    /// prefix expire on their own (tier-2 and generation TTLs).
    async fn clean_up(&self) -> anyhow::Result<()> {
        drop_schema(&self.postgres, &self.name).await?;
        let client = mongodb::Client::with_uri_str(&self.documents_base).await?;
        client.database(&self.name).drop().await?;
        Ok(())
    }
}

pub async fn run(quick: bool) -> anyhow::Result<Value> {
    let servers = Servers::from_env()?;
    let outcome = run_workers(&servers, &Sizes::new(quick)).await;
    // Cleaning up runs whether or not the workers succeeded.
    servers.clean_up().await?;
    outcome
}

async fn run_workers(servers: &Servers, sizes: &Sizes) -> anyhow::Result<Value> {
    let store = Store::open(servers.config()).await?;
    let keys = seed(&store).await?;
    store.close().await;

    let dir = tempfile::tempdir()?;
    let start_micros = now_micros() + START_DELAY.as_micros() as u64;
    let plan = Plan {
        keys,
        start_micros,
        end_micros: start_micros + sizes.seconds * 1_000_000,
        log_dir: dir.path().to_path_buf(),
    };
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec(&plan)?)?;
    eprintln!(
        "coherence: {} workers for {} s on {} hot records",
        sizes.workers,
        sizes.seconds,
        plan.keys.len()
    );

    let summaries = spawn_workers(servers, &plan_path, sizes.workers).await?;
    let mut operations = Vec::new();
    for process in 0..sizes.workers {
        operations.extend(read_log(&log_path(&plan.log_dir, process))?);
    }
    let report = check::check(&operations, &plan.keys);
    let mut json = check::to_json(&report, &plan, sizes.workers, summaries);
    // The logs of a run with violations stay on disk for a closer look.
    if report.violations() > 0 {
        json["logs"] = json!(dir.keep());
    }
    Ok(json)
}

/// Seeds the hot records, alternating kinds so that both backends get hot
/// keys under the skewed choice.
async fn seed(store: &Store) -> anyhow::Result<Vec<HotKey>> {
    let mut keys = Vec::new();
    for i in 0..HOT_PER_KIND {
        let catalog = store
            .catalogs()
            .create(Catalog::new(format!("hot catalog {i}")))
            .await?;
        keys.push(HotKey {
            kind: Kind::Catalog,
            id: catalog.id,
        });
        let folder = Folder {
            name: format!("hot folder {i}"),
            parent_id: None,
        };
        let folder = store.folders().create(folder).await?;
        keys.push(HotKey {
            kind: Kind::Folder,
            id: folder.id,
        });
    }
    Ok(keys)
}

/// Starts the workers together and waits for all of them. Each worker gets
/// the run's URLs through the variables the store reads.
async fn spawn_workers(
    servers: &Servers,
    plan_path: &Path,
    workers: usize,
) -> anyhow::Result<Vec<Value>> {
    let program = std::env::current_exe()?;
    let mut waits = Vec::new();
    for process in 0..workers {
        let child = Command::new(&program)
            .arg("coherence-worker")
            .arg(plan_path)
            .arg(process.to_string())
            .env(ENV_RELATIONAL_URL, &servers.relational_url)
            .env(ENV_DOCUMENTS_URL, &servers.documents_url)
            .env(ENV_CACHE_URL, &servers.cache_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        waits.push(tokio::task::spawn_blocking(move || {
            child.wait_with_output()
        }));
    }
    let mut summaries = Vec::new();
    for (process, wait) in waits.into_iter().enumerate() {
        summaries.push(worker_summary(process, wait.await??)?);
    }
    Ok(summaries)
}

fn worker_summary(process: usize, output: Output) -> anyhow::Result<Value> {
    anyhow::ensure!(
        output.status.success(),
        "coherence worker {process} failed with {}; its error is above",
        output.status
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn log_path(dir: &Path, process: usize) -> PathBuf {
    dir.join(format!("worker-{process}.jsonl"))
}

fn read_log(path: &Path) -> anyhow::Result<Vec<Operation>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

/// Runs one worker: `coherence-worker PLAN INDEX`. The store URLs come from
/// the `POLYSTAT_*` variables. Writes the operation log and returns the
/// worker's counts and cache counters.
pub async fn work(args: &[String]) -> anyhow::Result<Value> {
    let [plan_path, process] = args else {
        anyhow::bail!("usage: polystat-bench coherence-worker PLAN INDEX");
    };
    let plan: Plan = serde_json::from_slice(&std::fs::read(plan_path)?)?;
    let process: usize = process.parse()?;
    let store = Store::open(StoreConfig::from_env()?).await?;
    let wait = plan.start_micros.saturating_sub(now_micros());
    if wait == 0 {
        eprintln!("coherence: worker {process} opened its store after the start");
    }
    tokio::time::sleep(Duration::from_micros(wait)).await;

    let plan = std::sync::Arc::new(plan);
    let mut tasks = Vec::new();
    for task in 0..TASKS_PER_WORKER {
        let worker = Worker::new(store.clone(), plan.clone(), process, task);
        tasks.push(tokio::spawn(worker.run()));
    }
    let mut operations = Vec::new();
    for task in tasks {
        operations.extend(task.await?);
    }
    write_log(&log_path(&plan.log_dir, process), &operations)?;
    let stats = store.cache_stats();
    store.close().await;
    Ok(json!({
        "process": process,
        "operations": operations.len(),
        "cache": stats_json(&stats),
    }))
}

fn write_log(path: &Path, operations: &[Operation]) -> anyhow::Result<()> {
    let mut text = String::new();
    for operation in operations {
        text.push_str(&serde_json::to_string(operation)?);
        text.push('\n');
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// One task of a worker process and the operations it logged.
struct Worker {
    store: Store,
    plan: std::sync::Arc<Plan>,
    process: usize,
    task: usize,
    rng: StdRng,
    log: Vec<Operation>,
}

impl Worker {
    fn new(store: Store, plan: std::sync::Arc<Plan>, process: usize, task: usize) -> Worker {
        Worker {
            store,
            plan,
            process,
            task,
            rng: StdRng::from_entropy(),
            log: Vec::new(),
        }
    }

    async fn run(mut self) -> Vec<Operation> {
        let zipf = Zipf::new(self.plan.keys.len(), KEY_EXPONENT);
        let mut writes = 0u64;
        while now_micros() < self.plan.end_micros {
            let key = zipf.sample(&mut self.rng);
            let write = self.rng.gen_bool(WRITE_FRACTION);
            let label = format!("worker {} task {} write {writes}", self.process, self.task);
            match (self.plan.keys[key].kind, write) {
                (Kind::Catalog, false) => drop(self.read(self.store.catalogs(), key).await),
                (Kind::Folder, false) => drop(self.read(self.store.folders(), key).await),
                (Kind::Catalog, true) => {
                    let change = |c: &mut Catalog| c.description = label;
                    self.write(self.store.catalogs(), key, change).await
                }
                (Kind::Folder, true) => {
                    let change = |f: &mut Folder| f.name = label;
                    self.write(self.store.folders(), key, change).await
                }
            }
            writes += u64::from(write);
        }
        self.log
    }

    /// Gets the record and logs the version seen; returns the record for a
    /// write that follows.
    async fn read<T: Hooks>(
        &mut self,
        repository: Repository<T>,
        key: usize,
    ) -> Option<polystat::Record<T>> {
        let id = self.plan.keys[key].id;
        let started = now_micros();
        let result = repository.get(id).await;
        let ended = now_micros();
        match result {
            Ok(record) => {
                self.record(key, Outcome::Read, record.version, started, ended);
                Some(record)
            }
            Err(error) => {
                self.record_error(key, &error, started, ended);
                None
            }
        }
    }

    /// Reads the record, then updates it at the version read. A conflict
    /// means another write came first, and is logged as no write.
    async fn write<T: Hooks>(
        &mut self,
        repository: Repository<T>,
        key: usize,
        change: impl FnOnce(&mut T),
    ) {
        let Some(record) = self.read(repository.clone(), key).await else {
            return;
        };
        let mut data = record.data;
        change(&mut data);
        let started = now_micros();
        let result = repository.update(record.id, record.version, data).await;
        let ended = now_micros();
        match result {
            Ok(updated) => self.record(key, Outcome::Write, updated.version, started, ended),
            Err(Error::Conflict { .. }) => self.record(key, Outcome::Conflict, 0, started, ended),
            Err(error) => self.record_error(key, &error, started, ended),
        }
    }

    fn record(&mut self, key: usize, outcome: Outcome, version: i64, start: u64, end: u64) {
        self.log.push(Operation {
            process: self.process,
            task: self.task,
            key,
            outcome,
            version,
            start_micros: start,
            end_micros: end,
            error: None,
        });
    }

    fn record_error(&mut self, key: usize, error: &Error, start: u64, end: u64) {
        self.record(key, Outcome::Error, 0, start, end);
        if let Some(last) = self.log.last_mut() {
            last.error = Some(error.to_string());
        }
    }
}

//! Outages of the PostgreSQL and MongoDB servers under an open store. While a
//! server is stopped, writes, reads and the sample job fail within the pool
//! timeouts with an error that names the server, and the failed job leaves
//! nothing behind. Once the server is back, the same store works again.
//!
//! The cases stop servers of `tests/services.sh` that every other test uses.
//! So they live in a test binary of their own, because cargo runs test
//! binaries one after another, and they hold a lock to run one at a time.

mod common;

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use polystat::config::PoolOptions;
use polystat::job::EvaluateOptions;
use polystat::model::{Catalog, Folder};
use polystat::{Error, ListOptions, Record, Store, StoreConfig};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
use tokio::sync::Mutex;

use common::{repo_root, server_url, transforms_dist, Target};

/// Held by each case while it runs, because each stops a server that the
/// other case needs.
static SERVERS: Mutex<()> = Mutex::const_new(());

/// How long a pool waits for a connection. It is short so that calls
/// against a stopped server fail quickly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bound of the delay between two attempts, in both the PostgreSQL and
/// the MongoDB backend.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Allowance for scheduling and for the driver's own connection attempts.
const SLACK: Duration = Duration::from_secs(3);

/// Allowance for the part of a job that needs no server: reading the job,
/// catalog and data files, compiling the transforms and running them.
const JOB_LOCAL_WORK: Duration = Duration::from_secs(15);

/// How long a restarted server may take before the store works again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

/// Password part of the test URLs that `tests/services.sh up` prints.
const URL_CREDENTIALS: &str = ":polystat@";

#[derive(Debug, Clone, Copy)]
enum Service {
    Postgres,
    Mongodb,
}

impl Service {
    /// Returns the name that `tests/services.sh` takes and that polystat puts
    /// in its error messages.
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Mongodb => "mongodb",
        }
    }

    fn url_variable(self) -> &'static str {
        match self {
            Service::Postgres => "POLYSTAT_TEST_POSTGRES_URL",
            Service::Mongodb => "POLYSTAT_TEST_MONGODB_URL",
        }
    }

    /// Returns `HOST:PORT` of the server from its test URL.
    fn address(self) -> String {
        let url = server_url(self.url_variable());
        host_port(&url).to_string()
    }
}

/// Returns the `HOST:PORT` part of a URL, without user name or password.
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// Runs `tests/services.sh COMMAND SERVICE` and returns its stderr, or an
/// error message when it fails or prints on stdout.
fn run_services(command: &str, service: Service) -> Result<String, String> {
    let root = repo_root();
    let output = Command::new("bash")
        .arg(root.join("tests/services.sh"))
        .args([command, service.name()])
        .current_dir(&root)
        .output()
        .map_err(|error| format!("running tests/services.sh failed: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!(
            "tests/services.sh {command} {} failed ({}): {stderr}",
            service.name(),
            output.status
        ));
    }
    if !stdout.is_empty() {
        return Err(format!(
            "tests/services.sh {command} {} printed on stdout, which must stay empty: {stdout}",
            service.name()
        ));
    }
    Ok(stderr)
}

/// A server stopped with `tests/services.sh stop`. Dropping it starts the
/// server again, so that a failed assertion does not leave it down for the
/// tests that run next.
struct StoppedServer {
    service: Service,
    started: bool,
}

impl StoppedServer {
    fn stop(service: Service) -> StoppedServer {
        // The guard exists before the stop runs, so even a stop that fails
        // halfway is followed by a start.
        let server = StoppedServer {
            service,
            started: false,
        };
        let started = Instant::now();
        if let Err(message) = run_services("stop", service) {
            panic!("{message}");
        }
        eprintln!("stopped {} in {:?}", service.name(), started.elapsed());
        server
    }

    fn start(&mut self) {
        let started = Instant::now();
        if let Err(message) = run_services("start", self.service) {
            panic!("{message}");
        }
        self.started = true;
        eprintln!("started {} in {:?}", self.service.name(), started.elapsed());
    }
}

impl Drop for StoppedServer {
    fn drop(&mut self) {
        if self.started {
            return;
        }
        // A panic here would abort the test process during unwinding, so a
        // failure is only printed.
        match run_services("start", self.service) {
            Ok(_) => eprintln!("started {} again after a failure", self.service.name()),
            Err(message) => eprintln!("{message}"),
        }
    }
}

fn require_transforms() {
    for name in ["pr-number", "review-rule"] {
        let path = transforms_dist().join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing; run transforms/build.sh first",
            path.display()
        );
    }
}

/// Opens a fresh store on the servers target whose pools give up on a
/// stopped server after [`ACQUIRE_TIMEOUT`].
async fn open_store(dir: &TempDir) -> Store {
    let mut config = common::target_config(Target::Servers, dir);
    config.pool = PoolOptions {
        acquire_timeout: ACQUIRE_TIMEOUT,
        ..config.pool
    };
    Store::open(config)
        .await
        .expect("open store on the servers")
}

/// Returns the longest time a store call that makes `retried_calls` retried
/// backend calls may take to fail on a stopped server. Every attempt waits
/// for a connection, and the attempts are separated by the retry backoff.
fn failure_limit(pool: &PoolOptions, retried_calls: u32) -> Duration {
    let one_call = pool.acquire_timeout * (pool.retries + 1) + MAX_BACKOFF * pool.retries;
    one_call * retried_calls + SLACK
}

/// Retried backend calls in a failing read.
const READ_CALLS: u32 = 1;

/// Retried backend calls in a failing write. After an insert fails, the
/// MongoDB backend looks up which records were stored before it retries or
/// gives up, and that lookup is retried too.
const WRITE_CALLS: u32 = 2;

/// Records per collection that a job writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    catalogs: u64,
    controls: u64,
    computations: u64,
    datasources: u64,
    linkers: u64,
}

async fn counts(store: &Store) -> polystat::Result<Counts> {
    Ok(Counts {
        catalogs: store.catalogs().count(&Value::Null).await?,
        controls: store.controls().count(&Value::Null).await?,
        computations: store.computations().count(&Value::Null).await?,
        datasources: store.datasources().count(&Value::Null).await?,
        linkers: store.linkers().count(&Value::Null).await?,
    })
}

async fn timed<T>(future: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let value = future.await;
    (value, started.elapsed())
}

/// Checks that `result` is the error of a call made while `service` was
/// stopped: UNAVAILABLE or TIMEOUT, returned within `limit`, naming the
/// backend and its address, on one line and without the URL password.
fn assert_outage_error<T: std::fmt::Debug>(
    call: &str,
    service: Service,
    result: polystat::Result<T>,
    elapsed: Duration,
    limit: Duration,
) {
    let name = service.name();
    let error = match result {
        Ok(value) => panic!("{call} succeeded while {name} was stopped: {value:?}"),
        Err(error) => error,
    };
    let message = error.to_string();
    eprintln!("{call} failed after {elapsed:?}: {message}");

    assert!(
        matches!(error, Error::Unavailable { .. } | Error::Timeout { .. }),
        "{call} failed with {} instead of UNAVAILABLE or TIMEOUT: {message}",
        error.code()
    );
    assert!(
        elapsed <= limit,
        "{call} took {elapsed:?} to fail, more than the limit of {limit:?}: {message}"
    );

    assert!(
        message.contains(name),
        "{call} error does not name the backend {name}: {message}"
    );
    let address = service.address();
    assert!(
        message.contains(&address),
        "{call} error does not name the server address {address}: {message}"
    );

    assert!(
        !message.contains('\n'),
        "{call} error takes more than one line: {message}"
    );
    assert!(
        !message.contains(URL_CREDENTIALS),
        "{call} error contains the URL password: {message}"
    );
    let debug = format!("{error:?}");
    assert!(
        !debug.contains(URL_CREDENTIALS),
        "{call} error contains the URL password in its Debug output: {debug}"
    );
}

/// Runs `operation` until it stops failing with UNAVAILABLE or TIMEOUT, for
/// at most [`RECOVERY_LIMIT`], and returns its value.
async fn once_available<T, F, Fut>(call: &str, mut operation: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = polystat::Result<T>>,
{
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match operation().await {
            Ok(value) => {
                eprintln!(
                    "{call} succeeded {:?} after the server started, after {failures} failed attempts",
                    started.elapsed()
                );
                return value;
            }
            Err(error @ (Error::Unavailable { .. } | Error::Timeout { .. }))
                if started.elapsed() < RECOVERY_LIMIT =>
            {
                failures += 1;
                eprintln!(
                    "{call} failed {:?} after the server started, retrying: {error}",
                    started.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!(
                "{call} still fails {:?} after the server started: {error}",
                started.elapsed()
            ),
        }
    }
}

/// Runs the sample job while `service` is stopped and checks its error.
async fn assert_job_fails(store: &Store, service: Service) {
    let options = EvaluateOptions {
        job_path: repo_root().join("examples/jobs/sample-pull-request-review.json"),
        data_dir: None,
    };
    let (result, elapsed) = timed(store.evaluate_job(&options)).await;
    let limit = failure_limit(&store.config().pool, READ_CALLS) + JOB_LOCAL_WORK;
    assert_outage_error("sample job", service, result, elapsed, limit);
}

/// Checks that `listed`, read from the server, still contains `expected`
/// as it was written.
fn assert_intact<T: PartialEq + std::fmt::Debug>(listed: &[Record<T>], expected: &Record<T>) {
    let found = listed.iter().find(|record| record.id == expected.id);
    let Some(found) = found else {
        panic!(
            "record {} written before the outage is missing after it",
            expected.id
        );
    };
    assert_eq!(found.version, expected.version);
    assert_eq!(found.data, expected.data);
}

/// Drops the PostgreSQL schema and MongoDB database of a test store. A
/// failure is only printed, because the checks have passed by then.
async fn drop_test_data(config: &StoreConfig) {
    let Some((_, name)) = config.documents_url.rsplit_once('/') else {
        eprintln!("no database name in the documents URL; test data is left behind");
        return;
    };
    let postgres = server_url("POLYSTAT_TEST_POSTGRES_URL");
    match PgConnection::connect(&postgres).await {
        Ok(mut connection) => {
            // `common::unique_name` returns letters, digits and underscores
            // only, so the name needs no quoting.
            let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
            if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut connection)
                .await
            {
                eprintln!("dropping test schema {name} failed: {error}");
            }
            let _ = connection.close().await;
        }
        Err(error) => eprintln!("connecting to drop test schema {name} failed: {error}"),
    }
    match mongodb::Client::with_uri_str(server_url("POLYSTAT_TEST_MONGODB_URL")).await {
        Ok(client) => {
            if let Err(error) = client.database(name).drop().await {
                eprintln!("dropping test database {name} failed: {error}");
            }
        }
        Err(error) => eprintln!("connecting to drop test database {name} failed: {error}"),
    }
}

#[tokio::test]
async fn postgres_outage() {
    let _servers = SERVERS.lock().await;
    require_transforms();
    let service = Service::Postgres;
    let dir = TempDir::new().expect("temp dir");
    let store = open_store(&dir).await;
    let read_limit = failure_limit(&store.config().pool, READ_CALLS);
    let write_limit = failure_limit(&store.config().pool, WRITE_CALLS);

    let before_outage = store
        .catalogs()
        .create(Catalog::new("Before the outage"))
        .await
        .expect("create catalog before the outage");
    let read = store
        .catalogs()
        .get(before_outage.id)
        .await
        .expect("read catalog before the outage");
    assert_eq!(read.data, before_outage.data);
    let counts_before = counts(&store)
        .await
        .expect("count records before the outage");

    let mut server = StoppedServer::stop(service);

    let (write, elapsed) = timed(store.catalogs().create(Catalog::new("During the outage"))).await;
    assert_outage_error("catalog create", service, write, elapsed, write_limit);
    let (count, elapsed) = timed(store.catalogs().count(&Value::Null)).await;
    assert_outage_error("catalog count", service, count, elapsed, read_limit);
    let (list, elapsed) = timed(store.catalogs().list(&ListOptions::new())).await;
    assert_outage_error(
        "catalog list",
        service,
        list.map(|page| page.items.len()),
        elapsed,
        read_limit,
    );
    assert_job_fails(&store, service).await;

    server.start();

    // The first call after the start may still find the server warming up.
    let counts_after = once_available("count records", || counts(&store)).await;
    let listed = store
        .catalogs()
        .list_all(&ListOptions::new())
        .await
        .expect("list catalogs after the outage");
    assert_intact(&listed, &before_outage);
    let after_outage = once_available("catalog create", || async {
        store
            .catalogs()
            .create(Catalog::new("After the outage"))
            .await
    })
    .await;
    let read = store
        .catalogs()
        .get(after_outage.id)
        .await
        .expect("read catalog after the outage");
    assert_eq!(read.data, after_outage.data);
    let catalogs = store
        .catalogs()
        .count(&Value::Null)
        .await
        .expect("count catalogs after the outage");
    assert_eq!(
        catalogs,
        counts_after.catalogs + 1,
        "one create after the outage must add exactly one catalog"
    );
    assert_eq!(
        counts_after, counts_before,
        "the sample job that failed during the outage changed the store"
    );

    store.close().await;
    drop_test_data(store.config()).await;
}

#[tokio::test]
async fn mongodb_outage() {
    let _servers = SERVERS.lock().await;
    require_transforms();
    let service = Service::Mongodb;
    let dir = TempDir::new().expect("temp dir");
    let store = open_store(&dir).await;
    let read_limit = failure_limit(&store.config().pool, READ_CALLS);
    let write_limit = failure_limit(&store.config().pool, WRITE_CALLS);

    let catalog = store
        .catalogs()
        .create(Catalog::new("Before the outage"))
        .await
        .expect("create catalog before the outage");
    let read = store
        .catalogs()
        .get(catalog.id)
        .await
        .expect("read catalog before the outage");
    assert_eq!(read.data, catalog.data);
    let before_outage = store
        .folders()
        .create(Folder {
            name: "before the outage".into(),
            parent_id: None,
        })
        .await
        .expect("create folder before the outage");
    let read = store
        .folders()
        .get(before_outage.id)
        .await
        .expect("read folder before the outage");
    assert_eq!(read.data, before_outage.data);
    let counts_before = counts(&store)
        .await
        .expect("count records before the outage");

    let mut server = StoppedServer::stop(service);

    let during = Folder {
        name: "during the outage".into(),
        parent_id: None,
    };
    let (write, elapsed) = timed(store.folders().create(during)).await;
    assert_outage_error("folder create", service, write, elapsed, write_limit);
    let (count, elapsed) = timed(store.folders().count(&Value::Null)).await;
    assert_outage_error("folder count", service, count, elapsed, read_limit);
    let (list, elapsed) = timed(store.folders().list(&ListOptions::new())).await;
    assert_outage_error(
        "folder list",
        service,
        list.map(|page| page.items.len()),
        elapsed,
        read_limit,
    );
    assert_job_fails(&store, service).await;

    server.start();

    // The first call after the start may still find the server warming up.
    let counts_after = once_available("count records", || counts(&store)).await;
    let listed = store
        .folders()
        .list_all(&ListOptions::new())
        .await
        .expect("list folders after the outage");
    assert_intact(&listed, &before_outage);
    let catalogs = store
        .catalogs()
        .list_all(&ListOptions::new())
        .await
        .expect("list catalogs after the outage");
    assert_intact(&catalogs, &catalog);
    let after_outage = once_available("folder create", || async {
        let folder = Folder {
            name: "after the outage".into(),
            parent_id: None,
        };
        store.folders().create(folder).await
    })
    .await;
    let read = store
        .folders()
        .get(after_outage.id)
        .await
        .expect("read folder after the outage");
    assert_eq!(read.data, after_outage.data);
    let folders = store
        .folders()
        .count(&Value::Null)
        .await
        .expect("count folders after the outage");
    assert_eq!(
        folders,
        listed.len() as u64 + 1,
        "one create after the outage must add exactly one folder"
    );
    // NOTE: this fails while `Store::evaluate_job` imports the catalog and
    // its controls into PostgreSQL before its first MongoDB write, because
    // nothing removes them when that write fails.
    assert_eq!(
        counts_after, counts_before,
        "the sample job that failed during the outage changed the store"
    );

    store.close().await;
    drop_test_data(store.config()).await;
}

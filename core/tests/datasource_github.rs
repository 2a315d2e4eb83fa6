//! GitHub datasources against recorded GitHub responses served on loopback,
//! and the cm-3 job read through them instead of from files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polystat::job::{EvaluateOptions, JobReport};
use polystat::model::{Datasource, DefinitionId, NewSecret, TestStatus};
use polystat::{Error, Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use common::http::{link_page, Request, Response, TestServer};
use common::{repo_root, shared_data, TEST_MASTER_KEY};

const OWNER: &str = "dev-019";
const TOKEN: &str = "ghp-test-token";

/// The recorded pull requests, reviews and commits of the `ants` repository.
struct Recorded {
    pulls: Vec<Value>,
    reviews: Vec<Value>,
    commits: Vec<Value>,
}

fn read_array(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read recorded data");
    serde_json::from_str(&text).expect("recorded data is a JSON array")
}

fn recorded(data: &Path) -> Recorded {
    let dir = data.join("github/ants");
    Recorded {
        pulls: read_array(&dir.join("pulls.json")),
        reviews: read_array(&dir.join("pull_reviews.json")),
        commits: read_array(&dir.join("pull_commits.json")),
    }
}

/// Parses the pull request number at the end of a review's `pull_request_url`.
fn review_number(review: &Value) -> Option<u64> {
    review["pull_request_url"]
        .as_str()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// Routes GitHub REST paths to the recorded data, requiring the token.
fn github_handler(data: Arc<Recorded>) -> impl Fn(&Request) -> Response + Send + Sync {
    move |request| {
        if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Response::json(&json!({ "message": "Bad credentials" })).with_status(401);
        }
        let host = request.header("host").unwrap_or("127.0.0.1");
        let base = format!("http://{host}{}", request.path);
        let repo = format!("/repos/{OWNER}/ants");
        let rest = match request.path.strip_prefix(&repo) {
            Some(rest) => rest,
            None => return Response::status(404),
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            [] => Response::json(&json!({ "full_name": format!("{OWNER}/ants") })),
            ["pulls"] => link_page(request, &data.pulls, &base, "state=all&"),
            ["commits"] => link_page(request, &data.commits, &base, ""),
            ["pulls", number, "reviews"] => {
                let number: u64 = number.parse().unwrap_or(0);
                let reviews: Vec<Value> = data
                    .reviews
                    .iter()
                    .filter(|r| review_number(r) == Some(number))
                    .cloned()
                    .collect();
                link_page(request, &reviews, &base, "")
            }
            _ => Response::status(404),
        }
    }
}

trait WithStatus {
    fn with_status(self, status: u16) -> Self;
}

impl WithStatus for Response {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

async fn open_store(dir: &TempDir, allow_loopback: bool) -> Store {
    let mut config = StoreConfig::embedded(dir.path().join("polystat.db"))
        .with_master_key(TEST_MASTER_KEY)
        .expect("master key")
        .with_data_root(dir.path());
    if allow_loopback {
        config = config.with_http_allow(["127.0.0.1"]);
    }
    let store = Store::open(config).await.expect("open store");
    store
        .secrets()
        .create_secret(NewSecret::new("github-token", TOKEN))
        .await
        .expect("create secret");
    store
}

fn github_datasource(name: &str, server: &TestServer, resource: &str) -> Datasource {
    let mut datasource = Datasource::file(name, "");
    datasource.definition_id = DefinitionId::GithubApi;
    datasource.config = json!({
        "apiUrl": server.url(),
        "organization": OWNER,
        "repository": "ants",
        "resource": resource,
        "perPage": 10,
    });
    datasource
        .credentials
        .insert("token".into(), json!({ "secret": "github-token" }));
    datasource
}

async fn start_server() -> Option<(TestServer, Arc<Recorded>)> {
    let Some(data) = shared_data() else {
        eprintln!("POLYSTAT_SHARED_DATA is not set; the GitHub tests run from tests/run.sh");
        return None;
    };
    let recorded = Arc::new(recorded(&data));
    let server = TestServer::start(github_handler(recorded.clone())).await;
    Some((server, recorded))
}

#[tokio::test]
async fn pull_requests_follow_link_pages() {
    let Some((server, data)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, true).await;
    let datasource = github_datasource("pulls", &server, "pullRequests");
    let records = store.fetch_records(&datasource, None).await.unwrap();
    assert_eq!(records.len(), 49);
    assert_eq!(records, data.pulls);
    // 49 pull requests at 10 per page.
    assert_eq!(server.requests().len(), 5);
    let first = &server.requests()[0];
    assert_eq!(first.query.get("state").map(String::as_str), Some("all"));
    assert_eq!(first.header("accept"), Some("application/vnd.github+json"));
}

#[tokio::test]
async fn reviews_are_read_per_pull_request() {
    let Some((server, data)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, true).await;
    let datasource = github_datasource("reviews", &server, "reviews");
    let records = store.fetch_records(&datasource, None).await.unwrap();
    assert_eq!(records.len(), 30);
    let mut ids: Vec<&Value> = records.iter().map(|r| &r["id"]).collect();
    let mut expected: Vec<&Value> = data.reviews.iter().map(|r| &r["id"]).collect();
    ids.sort_by_key(|v| v.as_u64());
    expected.sort_by_key(|v| v.as_u64());
    assert_eq!(ids, expected);
    let review_paths: std::collections::HashSet<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/reviews"))
        .map(|r| r.path)
        .collect();
    assert_eq!(review_paths.len(), 49);
}

#[tokio::test]
async fn commits_respect_the_limit() {
    let Some((server, data)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, true).await;
    let datasource = github_datasource("commits", &server, "commits");
    let records = store.fetch_records(&datasource, Some(15)).await.unwrap();
    assert_eq!(records, data.commits[..15].to_vec());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn wrong_token_is_unauthorized() {
    let Some((server, _)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, true).await;
    let mut datasource = github_datasource("pulls", &server, "pullRequests");
    datasource
        .credentials
        .insert("token".into(), json!({ "value": "wrong" }));
    let err = store.fetch_records(&datasource, None).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn loopback_is_rejected_without_allowlist() {
    let Some((server, _)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, false).await;
    let datasource = github_datasource("pulls", &server, "pullRequests");
    let err = store.fetch_records(&datasource, None).await.unwrap_err();
    assert!(
        err.to_string().contains("datasource.config.apiUrl"),
        "{err}"
    );
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn connection_test_records_status() {
    let Some((server, _)) = start_server().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir, true).await;
    let good = store
        .datasources()
        .create(github_datasource("pulls", &server, "pullRequests"))
        .await
        .unwrap();
    let test = store.test_datasource(good.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Ok, "{:?}", test.message);
    let stored = store.datasources().get(good.id).await.unwrap();
    assert_eq!(stored.data.test_status, TestStatus::Ok);
    assert_eq!(stored.data.last_tested_at, Some(test.tested_at));

    let mut missing = github_datasource("missing", &server, "pullRequests");
    missing.config["repository"] = json!("nope");
    let missing = store.datasources().create(missing).await.unwrap();
    let test = store.test_datasource(missing.id).await.unwrap();
    assert_eq!(test.status, TestStatus::Failed);
    assert_eq!(test.code, Some("NOT_FOUND"));
    let stored = store.datasources().get(missing.id).await.unwrap();
    assert_eq!(stored.data.test_status, TestStatus::Failed);
    assert!(stored.data.last_tested_at.is_some());
}

#[test]
fn config_errors_name_the_field() {
    let base = json!({ "organization": "o", "repository": "r", "resource": "pullRequests" });
    let cases = [
        ("apiUrl", json!("not a url"), "datasource.config.apiUrl"),
        ("apiUrl", json!("ftp://h/"), "datasource.config.apiUrl"),
        (
            "organization",
            json!("a/b"),
            "datasource.config.organization",
        ),
        ("repository", json!(".."), "datasource.config.repository"),
        ("resource", json!("stars"), "datasource.config"),
        ("state", json!("merged"), "datasource.config.state"),
        ("perPage", json!(101), "datasource.config.perPage"),
        ("token", json!("inline"), "datasource.config.token"),
    ];
    for (key, value, field) in cases {
        let mut datasource = Datasource::file("g", "");
        datasource.definition_id = DefinitionId::GithubApi;
        datasource.config = base.clone();
        datasource.config[key] = value;
        let err = polystat::model::Entity::validate(&datasource).unwrap_err();
        match err {
            Error::Validation { field: got, .. } => assert_eq!(got, field, "{key}"),
            other => panic!("{key}: {other}"),
        }
    }
    let mut default_url = Datasource::file("g", "");
    default_url.definition_id = DefinitionId::GithubApi;
    default_url.config = base;
    polystat::model::Entity::validate(&default_url).unwrap();
    assert_eq!(
        default_url.github_config().unwrap().api_url,
        "https://api.github.com"
    );
}

// The cm-3 job with its two file datasources swapped for github-api ones.

fn require_transforms() -> PathBuf {
    let dist = common::transforms_dist();
    for name in ["pr-number", "review-rule"] {
        let path = dist.join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing; run transforms/build.sh first",
            path.display()
        );
    }
    dist
}

fn cm3_job(dir: &TempDir, server: Option<&TestServer>) -> PathBuf {
    let source = repo_root().join("examples/jobs/cm3-pull-request-review.json");
    let mut job: Value = serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    let dist = require_transforms();
    job["transforms"] = json!({
        "pr-number": dist.join("pr-number.wasm"),
        "review-rule": dist.join("review-rule.wasm"),
    });
    if let Some(server) = server {
        let source = |name: &str, resource: &str| {
            json!({
                "name": name,
                "definitionId": "github-api",
                "config": {
                    "apiUrl": server.url(),
                    "organization": OWNER,
                    "repository": "ants",
                    "resource": resource,
                    "perPage": 20
                },
                "credentials": { "token": { "secret": "github-token" } }
            })
        };
        job["datasources"] = json!([
            source("ants-pulls", "pullRequests"),
            source("ants-reviews", "reviews")
        ]);
    }
    let path = dir.path().join("job.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&job).unwrap()).unwrap();
    path
}

async fn evaluate(store: &Store, job: PathBuf, data: &Path) -> JobReport {
    store
        .evaluate_job(&EvaluateOptions {
            job_path: job,
            data_dir: Some(data.to_path_buf()),
        })
        .await
        .expect("job runs")
}

/// Evidence of the single computation: key, result and value per pull request.
async fn evidences(store: &Store, report: &JobReport) -> Vec<(String, bool, Value)> {
    let computation = store
        .computations()
        .get(report.evaluations[0].computation_id)
        .await
        .unwrap();
    computation
        .data
        .evidences
        .iter()
        .map(|e| (e.key.clone(), e.result, e.value.clone()))
        .collect()
}

#[tokio::test]
async fn cm3_job_reads_github_api() {
    let Some((server, _)) = start_server().await else {
        return;
    };
    let data = shared_data().expect("shared data");

    let api_dir = TempDir::new().unwrap();
    let api_store = open_store(&api_dir, true).await;
    let api_report = evaluate(&api_store, cm3_job(&api_dir, Some(&server)), &data).await;

    let file_dir = TempDir::new().unwrap();
    let file_store = open_store(&file_dir, false).await;
    let file_report = evaluate(&file_store, cm3_job(&file_dir, None), &data).await;

    let cm3 = &api_report.evaluations[0];
    assert_eq!(cm3.control, "cm-3");
    assert_eq!(cm3.evidences, 26);
    assert_eq!(cm3.passing, 3);
    assert!(!cm3.value);
    assert_eq!(api_report.totals, file_report.totals);
    let from_api = evidences(&api_store, &api_report).await;
    let from_files = evidences(&file_store, &file_report).await;
    assert_eq!(from_api, from_files);
    let passing: Vec<&str> = from_api
        .iter()
        .filter(|(_, result, _)| *result)
        .map(|(key, _, _)| key.as_str())
        .collect();
    assert_eq!(passing, ["41", "51", "53"]);

    // The stored datasources keep the secret reference, not the token.
    let stored = api_store
        .datasources()
        .find_one(json!({ "name": "ants-pulls" }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.data.definition_id, DefinitionId::GithubApi);
    let text = serde_json::to_string(&stored.data).unwrap();
    assert!(!text.contains(TOKEN));
}

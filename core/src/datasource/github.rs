//! GitHub datasources: pull requests, their reviews, commits and issues of
//! one repository through the GitHub REST API, paginated by `Link` headers.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{GuardedClient, HttpLimits, HttpRequest};
use super::rest::{allowlist, auth_headers, check_base_url, Pager, RestAuth};
use crate::error::{Error, Result};
use crate::model::Datasource;
use crate::store::Store;

/// Base URL of the public GitHub REST API.
pub const GITHUB_API_URL: &str = "https://api.github.com";
const API_URL_FIELD: &str = "datasource.config.apiUrl";
/// API version the request and response shapes follow.
const API_VERSION: &str = "2022-11-28";

/// Configuration of a `github-api` datasource. The optional token comes from
/// credential `token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubConfig {
    /// Base URL of the API; GitHub Enterprise Server uses `https://HOST/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Owner of the repository: an organization or a user.
    pub organization: String,
    pub repository: String,
    pub resource: GithubResource,
    /// `open`, `closed` or `all`, for pull requests, reviews and issues.
    #[serde(default = "default_state")]
    pub state: String,
    /// Records per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: usize,
    #[serde(default)]
    pub limits: HttpLimits,
}

/// Resource that a GitHub datasource lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GithubResource {
    /// `GET /repos/{owner}/{repo}/pulls`.
    PullRequests,
    /// `GET /repos/{owner}/{repo}/pulls/{number}/reviews` for every pull request.
    Reviews,
    /// `GET /repos/{owner}/{repo}/commits`.
    Commits,
    /// `GET /repos/{owner}/{repo}/issues`, which includes pull requests.
    Issues,
}

fn default_api_url() -> String {
    GITHUB_API_URL.to_string()
}
fn default_state() -> String {
    "all".into()
}
fn default_per_page() -> usize {
    100
}

impl GithubConfig {
    /// Checks the configuration without contacting GitHub.
    pub fn validate(&self) -> Result<()> {
        check_base_url(&self.api_url, API_URL_FIELD)?;
        check_name(&self.organization, "datasource.config.organization")?;
        check_name(&self.repository, "datasource.config.repository")?;
        if !matches!(self.state.as_str(), "open" | "closed" | "all") {
            return Err(Error::validation(
                "datasource.config.state",
                format!("{:?} is not a state; use open, closed or all", self.state),
            ));
        }
        if !(1..=100).contains(&self.per_page) {
            return Err(Error::validation(
                "datasource.config.perPage",
                format!("{} is out of range; GitHub accepts 1 to 100", self.per_page),
            ));
        }
        self.limits.validate("datasource.config.limits")
    }

    fn repo_url(&self, suffix: &str) -> Result<Url> {
        let text = format!(
            "{}/repos/{}/{}{suffix}",
            self.api_url.trim_end_matches('/'),
            self.organization,
            self.repository
        );
        check_base_url(&text, API_URL_FIELD)
    }

    fn list_url(&self, suffix: &str, with_state: bool) -> Result<Url> {
        let mut url = self.repo_url(suffix)?;
        {
            let mut query = url.query_pairs_mut();
            if with_state {
                query.append_pair("state", &self.state);
            }
            query.append_pair("per_page", &self.per_page.to_string());
        }
        Ok(url)
    }
}

/// Owner and repository names: letters, digits, `-`, `_` and `.`.
fn check_name(name: &str, field: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!("{name:?} is not a GitHub name; use letters, digits, '-', '_' and '.'"),
        ))
    }
}

/// A connected GitHub client for one datasource.
struct Github<'a> {
    config: &'a GithubConfig,
    client: GuardedClient,
    headers: HeaderMap,
    credentials: HeaderMap,
}

impl<'a> Github<'a> {
    async fn connect(
        store: &Store,
        datasource: &Datasource,
        config: &'a GithubConfig,
    ) -> Result<Github<'a>> {
        config.validate()?;
        let client = GuardedClient::new(allowlist(store)?, config.limits.clone(), API_URL_FIELD)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        // Without a token the API still serves public repositories, at a lower rate limit.
        let credentials = match datasource.credential("token")? {
            Some(_) => auth_headers(store, datasource, &RestAuth::Bearer).await?,
            None => HeaderMap::new(),
        };
        Ok(Github {
            config,
            client,
            headers,
            credentials,
        })
    }

    fn request(&self, url: Url) -> HttpRequest {
        HttpRequest {
            url,
            headers: self.headers.clone(),
            credentials: self.credentials.clone(),
        }
    }

    async fn list(&self, url: Url, limit: Option<usize>) -> Result<Vec<Value>> {
        let pager = Pager {
            client: &self.client,
            records_path: None,
            limit,
        };
        pager.link_header(self.request(url)).await
    }

    async fn reviews(&self, limit: Option<usize>) -> Result<Vec<Value>> {
        let pulls = self
            .list(self.config.list_url("/pulls", true)?, None)
            .await?;
        let mut reviews = Vec::new();
        for pull in &pulls {
            let number =
                pull.get("number")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| Error::Unavailable {
                        backend: "github datasource".into(),
                        reason: "a pull request in the response has no number".into(),
                        source: None,
                    })?;
            let remaining = limit.map(|l| l.saturating_sub(reviews.len()));
            if remaining == Some(0) {
                break;
            }
            let url = self
                .config
                .list_url(&format!("/pulls/{number}/reviews"), false)?;
            reviews.extend(self.list(url, remaining).await?);
        }
        Ok(reviews)
    }
}

/// Reads the configured resource, at most `limit` records when set.
pub async fn fetch(
    store: &Store,
    datasource: &Datasource,
    config: &GithubConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let github = Github::connect(store, datasource, config).await?;
    match config.resource {
        GithubResource::PullRequests => github.list(config.list_url("/pulls", true)?, limit).await,
        GithubResource::Issues => github.list(config.list_url("/issues", true)?, limit).await,
        GithubResource::Commits => {
            github
                .list(config.list_url("/commits", false)?, limit)
                .await
        }
        GithubResource::Reviews => github.reviews(limit).await,
    }
}

/// Reads the repository itself, which checks the URL, the token and access.
pub async fn test_connection(
    store: &Store,
    datasource: &Datasource,
    config: &GithubConfig,
) -> Result<()> {
    let github = Github::connect(store, datasource, config).await?;
    let request = github.request(config.repo_url("")?);
    github.client.get(&request).await.map(|_| ())
}

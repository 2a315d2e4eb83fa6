//! REST API datasources: named endpoints under a base URL, authentication
//! from credentials, and page-number or `Link`-header pagination.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::guard::HttpAllowlist;
use super::http::{header_map, secret_header, GuardedClient, HttpLimits, HttpRequest};
use crate::error::{Error, Result};
use crate::model::Datasource;
use crate::query::get_path;
use crate::store::Store;

const BASE_URL_FIELD: &str = "datasource.config.baseUrl";

/// Configuration of a `rest-api` datasource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestConfig {
    /// Absolute http(s) URL that endpoint paths are appended to.
    pub base_url: String,
    /// Headers sent with every request; credentials belong in `auth`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Endpoints by name.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Endpoint read by linkers; optional when there is only one.
    #[serde(default)]
    pub default_endpoint: Option<String>,
    #[serde(default)]
    pub auth: RestAuth,
    #[serde(default)]
    pub pagination: Pagination,
    /// Dotted path to the records array in each response, such as
    /// `data.items`; an endpoint may override it.
    #[serde(default)]
    pub records_path: Option<String>,
    #[serde(default)]
    pub limits: HttpLimits,
}

/// One endpoint: a path under the base URL and fixed query parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub records_path: Option<String>,
}

/// Authentication scheme of the requests. The secret part always comes from
/// the datasource's credentials, under the role of the scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum RestAuth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`, from credential `token`.
    Bearer,
    /// `Authorization: Basic ...` with this user name and credential `password`.
    Basic { username: String },
    /// The key from credential `apiKey` in the named header.
    ApiKey { header: String },
    /// `Cookie: <name>=<value>`, the value from credential `cookie`.
    Cookie { name: String },
}

/// Pagination scheme: how an endpoint's records span several responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Pagination {
    /// One response contains every record.
    #[default]
    None,
    /// Pages are numbered by a query parameter; a page with fewer than
    /// `pageSize` records is the last.
    #[serde(rename_all = "camelCase")]
    PageNumber {
        #[serde(default = "default_page_param")]
        page_param: String,
        #[serde(default = "default_size_param")]
        size_param: String,
        #[serde(default = "default_page_size")]
        page_size: usize,
        #[serde(default = "default_first_page")]
        first_page: usize,
    },
    /// The `Link` header's `rel="next"` URL names the next page.
    LinkHeader,
}

fn default_page_param() -> String {
    "page".into()
}
fn default_size_param() -> String {
    "per_page".into()
}
fn default_page_size() -> usize {
    100
}
fn default_first_page() -> usize {
    1
}

impl RestAuth {
    /// Returns the credential role that contains this scheme's secret.
    pub fn credential_role(&self) -> Option<&'static str> {
        match self {
            RestAuth::None => None,
            RestAuth::Bearer => Some("token"),
            RestAuth::Basic { .. } => Some("password"),
            RestAuth::ApiKey { .. } => Some("apiKey"),
            RestAuth::Cookie { .. } => Some("cookie"),
        }
    }
}

impl RestConfig {
    /// Checks the configuration without contacting the server.
    pub fn validate(&self) -> Result<()> {
        check_base_url(&self.base_url, BASE_URL_FIELD)?;
        check_headers(&self.headers)?;
        if self.endpoints.is_empty() {
            return Err(Error::validation(
                "datasource.config.endpoints",
                "must name at least one endpoint, such as {\"items\": {\"path\": \"/items\"}}",
            ));
        }
        for (name, endpoint) in &self.endpoints {
            endpoint.validate(name)?;
        }
        self.default_endpoint_name()?;
        check_records_path(
            self.records_path.as_deref(),
            "datasource.config.recordsPath",
        )?;
        self.check_auth()?;
        self.check_pagination()?;
        self.limits.validate("datasource.config.limits")
    }

    /// Returns the endpoint that linkers read.
    pub fn default_endpoint_name(&self) -> Result<&str> {
        let field = "datasource.config.defaultEndpoint";
        match &self.default_endpoint {
            Some(name) if self.endpoints.contains_key(name) => Ok(name),
            Some(name) => Err(Error::validation(
                field,
                format!("names endpoint {name:?}, which is not in endpoints; use one of its keys"),
            )),
            None if self.endpoints.len() == 1 => {
                Ok(self.endpoints.keys().next().map_or("", String::as_str))
            }
            None => Err(Error::validation(
                field,
                "is required when there are several endpoints; name one of them",
            )),
        }
    }

    fn check_auth(&self) -> Result<()> {
        let field = "datasource.config.auth";
        match &self.auth {
            RestAuth::Basic { username } if username.is_empty() || username.contains(':') => {
                Err(Error::validation(
                    format!("{field}.username"),
                    "must be non-empty and contain no ':'",
                ))
            }
            RestAuth::ApiKey { header } => HeaderName::from_bytes(header.as_bytes())
                .map(|_| ())
                .map_err(|_| {
                    Error::validation(
                        format!("{field}.header"),
                        "is not a valid header name; use one such as X-API-Key",
                    )
                }),
            RestAuth::Cookie { name } if name.is_empty() || name.contains(['=', ';', ' ']) => {
                Err(Error::validation(
                    format!("{field}.name"),
                    "must be a cookie name without '=', ';' or spaces",
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_pagination(&self) -> Result<()> {
        if let Pagination::PageNumber {
            page_param,
            page_size,
            ..
        } = &self.pagination
        {
            if page_param.is_empty() {
                return Err(Error::validation(
                    "datasource.config.pagination.pageParam",
                    "must not be empty; the default is page",
                ));
            }
            if *page_size == 0 {
                return Err(Error::validation(
                    "datasource.config.pagination.pageSize",
                    "must be greater than 0",
                ));
            }
        }
        Ok(())
    }
}

impl Endpoint {
    fn validate(&self, name: &str) -> Result<()> {
        let field = format!("datasource.config.endpoints.{name}.path");
        // An absolute URL here would send the credentials to another host.
        if self.path.contains("://") || self.path.starts_with("//") {
            return Err(Error::validation(
                field,
                "must be a path under baseUrl, such as /items, not an absolute URL",
            ));
        }
        if self.path.contains(['?', '#']) {
            return Err(Error::validation(
                field,
                "must not carry a query or fragment; put parameters in query",
            ));
        }
        let records_field = format!("datasource.config.endpoints.{name}.recordsPath");
        check_records_path(self.records_path.as_deref(), &records_field)
    }
}

/// Checks that `text` is an absolute http(s) URL without user information.
pub(crate) fn check_base_url(text: &str, field: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| {
        Error::validation(
            field,
            format!("{text:?} is not an absolute URL ({e}); write it as https://host/path"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::validation(
            field,
            format!("{text:?} must be an http or https URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation(
            field,
            "must not contain a user name or password; put them in credentials and auth",
        ));
    }
    Ok(url)
}

fn check_headers(headers: &BTreeMap<String, String>) -> Result<()> {
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "authorization" | "cookie" | "proxy-authorization"
        ) {
            return Err(Error::validation(
                format!("datasource.config.headers.{name}"),
                "carries a credential; set auth and store the secret in credentials instead",
            ));
        }
    }
    header_map(headers, "datasource.config.headers").map(|_| ())
}

pub(crate) fn check_records_path(path: Option<&str>, field: &str) -> Result<()> {
    match path {
        Some(path) if path.split('.').any(str::is_empty) => Err(Error::validation(
            field,
            format!(
                "{path:?} has an empty segment; write names separated by dots, such as data.items"
            ),
        )),
        _ => Ok(()),
    }
}

/// Returns the records of one response body: the array at `records_path`,
/// or the body itself when it is an array.
pub(crate) fn extract_records(
    body: Value,
    records_path: Option<&str>,
    url: &Url,
) -> Result<Vec<Value>> {
    let found = match records_path {
        Some(path) => get_path(&body, path).cloned().ok_or_else(|| {
            Error::validation(
                "datasource.config.recordsPath",
                format!("the response from {url} has no value at {path:?}; check the path"),
            )
        })?,
        None => body,
    };
    match found {
        Value::Array(records) => Ok(records),
        other => Err(Error::validation(
            "datasource.config.recordsPath",
            format!(
                "the response from {url} holds {} there, not an array of records; set \
                 recordsPath to the array, such as data.items",
                crate::link::mapping::json_type_name(&other)
            ),
        )),
    }
}

/// Reads the store's allowlist of hosts and networks for HTTP datasources.
pub(crate) fn allowlist(store: &Store) -> Result<Arc<HttpAllowlist>> {
    HttpAllowlist::parse(&store.config().http_allow).map(Arc::new)
}

/// Reads the records of the default endpoint, at most `limit` when set.
pub async fn fetch(
    store: &Store,
    datasource: &Datasource,
    config: &RestConfig,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let name = config.default_endpoint_name()?;
    fetch_endpoint(store, datasource, config, name, limit).await
}

/// Reads the records of endpoint `name`, following pagination.
pub async fn fetch_endpoint(
    store: &Store,
    datasource: &Datasource,
    config: &RestConfig,
    name: &str,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    config.validate()?;
    let endpoint = config.endpoints.get(name).ok_or_else(|| {
        Error::validation(
            "datasource.config.endpoints",
            format!("has no endpoint {name:?}; add it or use one of its keys"),
        )
    })?;
    let client = GuardedClient::new(allowlist(store)?, config.limits.clone(), BASE_URL_FIELD)?;
    let request = HttpRequest {
        url: endpoint_url(&config.base_url, endpoint)?,
        headers: header_map(&config.headers, "datasource.config.headers")?,
        credentials: auth_headers(store, datasource, &config.auth).await?,
    };
    let records_path = endpoint
        .records_path
        .as_deref()
        .or(config.records_path.as_deref());
    let pager = Pager {
        client: &client,
        records_path,
        limit,
    };
    match &config.pagination {
        Pagination::None => pager.single(request).await,
        Pagination::LinkHeader => pager.link_header(request).await,
        Pagination::PageNumber {
            page_param,
            size_param,
            page_size,
            first_page,
        } => {
            let pages = PageNumbers {
                page_param,
                size_param,
                page_size: *page_size,
                first_page: *first_page,
            };
            pager.page_numbers(request, &pages).await
        }
    }
}

fn endpoint_url(base: &str, endpoint: &Endpoint) -> Result<Url> {
    let joined = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        endpoint.path.trim_start_matches('/')
    );
    let mut url = check_base_url(&joined, BASE_URL_FIELD)?;
    if !endpoint.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&endpoint.query);
    }
    Ok(url)
}

/// Builds the credential headers of `auth`; their values are marked sensitive.
pub(crate) async fn auth_headers(
    store: &Store,
    datasource: &Datasource,
    auth: &RestAuth,
) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(role) = auth.credential_role() else {
        return Ok(headers);
    };
    let field = format!("datasource.credentials.{role}");
    let secret = store
        .reveal_credential(datasource, role)
        .await?
        .ok_or_else(|| {
            Error::validation(
                &field,
                format!("auth {role} needs credential {role}; add {{\"secret\": \"NAME\"}} under credentials.{role}"),
            )
        })?;
    let (name, value) = match auth {
        RestAuth::Bearer => (AUTHORIZATION, format!("Bearer {secret}")),
        RestAuth::Basic { username } => {
            use base64::Engine;
            let pair = format!("{username}:{secret}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            (AUTHORIZATION, format!("Basic {encoded}"))
        }
        RestAuth::ApiKey { header } => (
            HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                Error::validation("datasource.config.auth.header", "invalid header name")
            })?,
            secret,
        ),
        RestAuth::Cookie { name } => (COOKIE, format!("{name}={secret}")),
        RestAuth::None => return Ok(headers),
    };
    headers.insert(name, secret_header(&value, &field)?);
    Ok(headers)
}

/// Page-number settings of one fetch.
struct PageNumbers<'a> {
    page_param: &'a str,
    size_param: &'a str,
    page_size: usize,
    first_page: usize,
}

/// Reads pages until the last one, the record limit or the page cap.
pub(crate) struct Pager<'a> {
    pub client: &'a GuardedClient,
    pub records_path: Option<&'a str>,
    pub limit: Option<usize>,
}

impl Pager<'_> {
    pub(crate) async fn single(&self, request: HttpRequest) -> Result<Vec<Value>> {
        let response = self.client.get(&request).await?;
        let mut records = extract_records(response.json()?, self.records_path, &response.url)?;
        if let Some(limit) = self.limit {
            records.truncate(limit);
        }
        Ok(records)
    }

    pub(crate) async fn link_header(&self, mut request: HttpRequest) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        for _ in 0..self.client.limits().max_pages {
            let response = self.client.get(&request).await?;
            let page = extract_records(response.json()?, self.records_path, &response.url)?;
            records.extend(page);
            if self.is_full(&mut records) {
                return Ok(records);
            }
            match response.next_link() {
                Some(next) => request.url = next,
                None => return Ok(records),
            }
        }
        Err(self.too_many_pages())
    }

    async fn page_numbers(
        &self,
        request: HttpRequest,
        pages: &PageNumbers<'_>,
    ) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        for index in 0..self.client.limits().max_pages {
            let mut page_request = request.clone();
            {
                let mut query = page_request.url.query_pairs_mut();
                query.append_pair(pages.page_param, &(pages.first_page + index).to_string());
                if !pages.size_param.is_empty() {
                    query.append_pair(pages.size_param, &pages.page_size.to_string());
                }
            }
            let response = self.client.get(&page_request).await?;
            let page = extract_records(response.json()?, self.records_path, &response.url)?;
            let last = page.len() < pages.page_size;
            records.extend(page);
            if self.is_full(&mut records) || last {
                return Ok(records);
            }
        }
        Err(self.too_many_pages())
    }

    /// Truncates to the limit and reports whether it was reached.
    fn is_full(&self, records: &mut Vec<Value>) -> bool {
        match self.limit {
            Some(limit) if records.len() >= limit => {
                records.truncate(limit);
                true
            }
            _ => false,
        }
    }

    fn too_many_pages(&self) -> Error {
        let max = self.client.limits().max_pages;
        Error::validation(
            "datasource.config.limits.maxPages",
            format!("the server still had more records after {max} pages; raise maxPages or narrow the query"),
        )
    }
}

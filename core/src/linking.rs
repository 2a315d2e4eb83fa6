//! Running linkers against the store's datasources.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::cache::{stable_hash, Cached, Key};
use crate::datasource::file::read_projected;
use crate::datasource::projection::Projection;
use crate::error::{Error, Result};
use crate::job::TransformSet;
use crate::link::{combine, prepare, LinkOutput, LinkerSpec, SourceData};
use crate::model::{Datasource, DefinitionId, ExecutionStatus};
use crate::repo::ListOptions;
use crate::store::Store;

/// Records read per source by a test run when the caller names no size.
pub const DEFAULT_TEST_SAMPLE: usize = 20;

impl Store {
    /// Runs a stored linker: reads every source, links, and records the
    /// execution status on the linker.
    pub async fn run_linker(
        &self,
        linker_id: Uuid,
        transforms: &TransformSet,
    ) -> Result<LinkOutput> {
        let linker = self.linkers().get(linker_id).await?;
        let datasources = self.resolve_datasources(&linker.data.spec).await?;
        let outcome = self
            .link_datasources(&linker.data.spec, &datasources, transforms, None)
            .await;
        let mut data = linker.data.clone();
        data.execution_status = match &outcome {
            Ok(_) => ExecutionStatus::Succeeded,
            Err(_) => ExecutionStatus::Failed,
        };
        data.last_run_at = Some(chrono::Utc::now());
        self.linkers()
            .update(linker.id, linker.version, data)
            .await?;
        outcome
    }

    /// Returns the output of a stored linker, from the cache when the same
    /// linker version ran with the same transforms and sample size before
    /// (in this process or, with Redis, in any process sharing the cache).
    /// Writes nothing, not even the execution status.
    // NOTE: the key covers the linker, its datasource definitions and the
    // run options, not the data the datasources return: a cached result
    // stays until one of those changes or the entry expires (tier 1 TTL,
    // then the tier 2 TTL).
    pub async fn linker_result(
        &self,
        linker_id: Uuid,
        transforms: &TransformSet,
        sample_size: Option<usize>,
    ) -> Result<LinkOutput> {
        let linker = self.linkers().get(linker_id).await?;
        let datasources = self.resolve_datasources(&linker.data.spec).await?;
        // The datasource definitions are part of the key, so changing where
        // a source reads from is a new entry.
        let definitions = serde_json::to_string(&datasources).map_err(|e| {
            Error::validation("linker", format!("datasources do not serialize: {e}"))
        })?;
        let options = format!("{sample_size:?} {} {definitions}", transforms.fingerprint());
        let key = Key::Linker {
            id: linker_id,
            version: linker.version,
            options: stable_hash(&options),
        };
        let load = || async {
            let output = self
                .link_datasources(&linker.data.spec, &datasources, transforms, sample_size)
                .await?;
            let value = serde_json::to_value(&output).map_err(|e| {
                Error::validation("linker", format!("link output does not serialize: {e}"))
            })?;
            Ok(Some((Cached::Json(value), linker.version)))
        };
        let cached = self.inner.cache.read(key, true, load).await?;
        match cached.as_deref() {
            Some(Cached::Json(value)) => serde_json::from_value(value.clone()).map_err(|e| {
                Error::validation(
                    "linker",
                    format!("cached link output does not parse ({e}); retry the read"),
                )
            }),
            _ => Err(Error::validation(
                "linker",
                "the cached link output has the wrong kind; retry the read",
            )),
        }
    }

    /// Runs a stored linker on at most `sample_size` records per source and
    /// writes nothing, not even the execution status.
    pub async fn test_linker(
        &self,
        linker_id: Uuid,
        transforms: &TransformSet,
        sample_size: Option<usize>,
    ) -> Result<LinkOutput> {
        let linker = self.linkers().get(linker_id).await?;
        let datasources = self.resolve_datasources(&linker.data.spec).await?;
        let size = sample_size.unwrap_or(DEFAULT_TEST_SAMPLE);
        self.link_datasources(&linker.data.spec, &datasources, transforms, Some(size))
            .await
    }

    /// Links the given datasources by `spec`; sources name datasources by name.
    ///
    /// The sources are fetched and prepared at once. When several fail, the
    /// first failure to happen is returned, and the other sources' results
    /// are discarded.
    pub async fn link_datasources(
        &self,
        spec: &LinkerSpec,
        datasources: &[Datasource],
        transforms: &TransformSet,
        sample_size: Option<usize>,
    ) -> Result<LinkOutput> {
        let mut resolved = Vec::with_capacity(spec.sources.len());
        for (index, source) in spec.sources.iter().enumerate() {
            let datasource = datasources
                .iter()
                .find(|d| d.name == source.datasource)
                .ok_or_else(|| {
                    Error::validation(
                        format!("linker.sources[{index}].datasource"),
                        format!("datasource {:?} not found", source.datasource),
                    )
                })?;
            resolved.push(datasource);
        }
        // Structure and output schema are checked before anything is fetched.
        spec.validate()?;
        let spec = Arc::new(spec.clone());
        let transforms = Arc::new(transforms.clone());
        // The sources are fetched at once: remote ones wait on their servers
        // together, and file sources parse on separate blocking threads. Each
        // source reads only the fields it uses (see
        // `SourceSpec::read_projection`) and runs its transforms as soon as
        // its records arrive, while later sources may still be loading.
        let fetches = resolved.iter().enumerate().map(|(index, datasource)| {
            let spec = Arc::clone(&spec);
            let transforms = Arc::clone(&transforms);
            async move {
                let projection = spec.sources[index].read_projection();
                let mut records = self
                    .fetch_projected(datasource, sample_size, projection)
                    .await?;
                if let Some(size) = sample_size {
                    records.truncate(size);
                }
                let data = SourceData {
                    name: datasource.name.clone(),
                    records,
                };
                run_blocking(move || prepare(&spec, index, data, transforms.as_ref())).await
            }
        });
        let prepared = futures::future::try_join_all(fetches).await?;
        run_blocking(move || combine(&spec, prepared, transforms.as_ref())).await
    }

    /// Reads the records of one datasource.
    pub async fn fetch_records(
        &self,
        datasource: &Datasource,
        limit: Option<usize>,
    ) -> Result<Vec<Value>> {
        self.fetch_projected(datasource, limit, None).await
    }

    /// Reads the records of one datasource, keeping only the fields that
    /// `projection` names.
    ///
    /// File datasources project JSON and NDJSON records while parsing them,
    /// and MongoDB datasources ask the server for the top-level fields only.
    /// Every other record is pruned after it is read.
    pub async fn fetch_projected(
        &self,
        datasource: &Datasource,
        limit: Option<usize>,
        projection: Option<Projection>,
    ) -> Result<Vec<Value>> {
        use crate::datasource::{github, mongo, rest, sql};
        let mut records = match datasource.definition_id {
            DefinitionId::File => {
                let config = datasource.file_config()?;
                return read_projected(self.data_root(), &config, limit, projection).await;
            }
            DefinitionId::RestApi => {
                rest::fetch(self, datasource, &datasource.rest_config()?, limit).await?
            }
            DefinitionId::GithubApi => {
                github::fetch(self, datasource, &datasource.github_config()?, limit).await?
            }
            DefinitionId::Sql => {
                sql::fetch(self, datasource, &datasource.sql_config()?, limit).await?
            }
            DefinitionId::Mongodb => {
                let config = datasource.mongo_config()?;
                mongo::fetch(self, datasource, &config, limit, projection.as_ref()).await?
            }
            DefinitionId::Custom => {
                return Err(Error::validation(
                    "datasource.definitionId",
                    format!(
                        "datasource {:?} is custom; polystat cannot read it, so the program \
                         that defines it must fetch its records",
                        datasource.name
                    ),
                ))
            }
        };
        if let Some(projection) = &projection {
            records
                .iter_mut()
                .for_each(|record| projection.prune(record));
        }
        Ok(records)
    }

    /// Finds the datasources a spec's sources name, by id or by name.
    async fn resolve_datasources(&self, spec: &LinkerSpec) -> Result<Vec<Datasource>> {
        let mut found = Vec::new();
        for (index, source) in spec.sources.iter().enumerate() {
            let by_id = match Uuid::parse_str(&source.datasource) {
                Ok(id) => self.datasources().find(id).await?,
                Err(_) => None,
            };
            let record = match by_id {
                Some(record) => Some(record),
                None => {
                    let filter = serde_json::json!({ "name": source.datasource });
                    self.datasources()
                        .list(&ListOptions::new().filter(filter).limit(1))
                        .await?
                        .items
                        .pop()
                }
            };
            let mut datasource = record
                .ok_or_else(|| {
                    Error::validation(
                        format!("linker.sources[{index}].datasource"),
                        format!(
                            "datasource {:?} not found; create it first",
                            source.datasource
                        ),
                    )
                })?
                .data;
            // Sources are matched by the name they use in the spec.
            datasource.name = source.datasource.clone();
            found.push(datasource);
        }
        Ok(found)
    }
}

/// Runs linker work on the blocking thread pool, because transforms and joins
/// keep a thread busy for as long as they take.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::validation("linker", format!("linker task failed: {e}")))?
}

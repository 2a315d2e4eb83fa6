//! polystat: an embedded persistence SDK for compliance-monitoring platforms.
//!
//! A [`Store`] keeps relational data (users, catalogs, controls, scopes,
//! secrets, service accounts) and documents (computations, guarantee points,
//! mashups, datasources, linkers, folders). With no configuration it opens
//! `polystat.db` in the working directory and an in-process cache.

pub(crate) mod backend;
pub mod cache;
pub mod changes;
pub mod config;
pub mod crypto;
pub mod datasource;
pub mod error;
pub mod job;
pub mod link;
mod linking;
pub mod model;
pub mod oscal;
pub mod query;
pub mod registry;
pub mod repo;
pub mod state;
pub mod store;
pub mod transform;

pub use config::StoreConfig;
pub use error::{Error, Result};
pub use model::Record;
pub use repo::{ListOptions, Page, Repository};
pub use store::Store;

//! Datasources that produce records for the linker: files, REST and GitHub
//! APIs, SQL queries and MongoDB collections.

pub mod connection;
pub mod credentials;
pub mod file;
pub mod github;
pub mod guard;
pub mod http;
pub mod mongo;
pub mod projection;
pub mod rest;
pub mod sql;

//! The main job: import a catalog, link evidence from datasources, evaluate
//! controls with WebAssembly transforms and store one computation per control
//! and period.

mod control;
mod evaluate;
mod spec;
mod transforms;

pub use control::ControlInput;
pub use evaluate::{EvaluateOptions, Evaluation, JobReport, Totals};
pub use spec::{CatalogSource, JobControl, JobDatasource, JobLimits, JobLinker, JobSpec};
pub use transforms::TransformSet;

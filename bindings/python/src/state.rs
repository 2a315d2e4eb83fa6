//! Tokens, sessions, rate limits, pub/sub and temporary values.

use std::sync::Arc;
use std::time::Duration;

use polystat::state::{RateDecision, Session, State, Subscription, TokenClaims, TokenPair};
use polystat::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::convert::{plain_to_py, to_py};
use crate::errors;
use crate::operation::Operation;
use crate::records::{argument, parse_id};
use crate::store::NativeStore;

/// The state features of one store.
#[pyclass(module = "polystat._native", frozen)]
pub struct NativeState {
    store: Py<NativeStore>,
}

impl NativeState {
    fn state(&self, py: Python<'_>) -> PyResult<State> {
        Ok(self.store.get().handle(py)?.state())
    }
}

/// Converts seconds into a duration, rejecting negative and non-finite values.
fn seconds(py: Python<'_>, field: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        errors::validation(
            py,
            field,
            format!("{value} is not a non-negative number of seconds"),
        )
    })
}

fn object(py: Python<'_>, field: &str, value: &Bound<'_, PyAny>) -> PyResult<Map<String, Value>> {
    match argument(py, field, value)? {
        Value::Object(map) => Ok(map),
        _ => Err(errors::validation(py, field, "must be a dict")),
    }
}

fn none(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn flag(py: Python<'_>, value: bool) -> PyResult<Py<PyAny>> {
    Ok(pyo3::types::PyBool::new(py, value)
        .to_owned()
        .into_any()
        .unbind())
}

fn token_pair(py: Python<'_>, pair: TokenPair) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("access_token", pair.access_token)?;
    dict.set_item("refresh_token", pair.refresh_token)?;
    dict.set_item("access_expires_at", pair.access_expires_at)?;
    dict.set_item("refresh_expires_at", pair.refresh_expires_at)?;
    dict.set_item("family_id", pair.family_id.to_string())?;
    Ok(dict.into_any().unbind())
}

fn claims(py: Python<'_>, claims: TokenClaims) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("subject", claims.subject)?;
    dict.set_item("claims", plain_to_py(py, &claims.claims)?)?;
    dict.set_item("family_id", claims.family_id.to_string())?;
    dict.set_item("expires_at", claims.expires_at)?;
    Ok(dict.into_any().unbind())
}

fn session(py: Python<'_>, session: Option<Session>) -> PyResult<Py<PyAny>> {
    let Some(session) = session else {
        return Ok(py.None());
    };
    let dict = PyDict::new(py);
    dict.set_item("id", session.id)?;
    dict.set_item("data", plain_to_py(py, &Value::Object(session.data))?)?;
    dict.set_item("expires_at", session.expires_at)?;
    Ok(dict.into_any().unbind())
}

fn decision(py: Python<'_>, decision: RateDecision) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("allowed", decision.allowed)?;
    dict.set_item("remaining", decision.remaining)?;
    dict.set_item("retry_after", decision.retry_after.map(|d| d.as_secs_f64()))?;
    dict.set_item("reset_after", decision.reset_after.as_secs_f64())?;
    Ok(dict.into_any().unbind())
}

fn optional_value(py: Python<'_>, value: Option<Value>) -> PyResult<Py<PyAny>> {
    match value {
        Some(value) => Ok(to_py(py, &value, &[])?.unbind()),
        None => Ok(py.None()),
    }
}

#[pymethods]
impl NativeState {
    #[new]
    fn new(store: Py<NativeStore>) -> Self {
        NativeState { store }
    }

    fn issue_tokens(
        &self,
        py: Python<'_>,
        subject: String,
        claims_value: &Bound<'_, PyAny>,
        access_ttl: f64,
        refresh_ttl: f64,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let claims_json = argument(py, "claims", claims_value)?;
        let access = seconds(py, "access_ttl", access_ttl)?;
        let refresh = seconds(py, "refresh_ttl", refresh_ttl)?;
        Ok(Operation::new(
            async move {
                state
                    .issue_tokens(&subject, claims_json, access, refresh)
                    .await
            },
            token_pair,
        ))
    }

    fn verify_access(&self, py: Python<'_>, access_token: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.verify_access(&access_token).await },
            claims,
        ))
    }

    fn refresh(&self, py: Python<'_>, refresh_token: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.refresh(&refresh_token).await },
            token_pair,
        ))
    }

    fn revoke_family(&self, py: Python<'_>, family_id: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let state = self.state(py)?;
        let family: Uuid = parse_id(py, family_id)?;
        Ok(Operation::new(
            async move { state.revoke_family(family).await },
            flag,
        ))
    }

    fn revoke_token(&self, py: Python<'_>, token: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.revoke_token(&token).await },
            flag,
        ))
    }

    fn create_session(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        ttl: f64,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let data = object(py, "data", data)?;
        let ttl = seconds(py, "ttl", ttl)?;
        Ok(Operation::new(
            async move { state.create_session(data, ttl).await.map(Some) },
            session,
        ))
    }

    fn get_session(&self, py: Python<'_>, id: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.get_session(&id).await },
            session,
        ))
    }

    fn update_session(
        &self,
        py: Python<'_>,
        id: String,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let data = object(py, "data", data)?;
        Ok(Operation::new(
            async move { state.update_session(&id, data).await },
            session,
        ))
    }

    fn touch_session(&self, py: Python<'_>, id: String, ttl: f64) -> PyResult<Operation> {
        let state = self.state(py)?;
        let ttl = seconds(py, "ttl", ttl)?;
        Ok(Operation::new(
            async move { state.touch_session(&id, ttl).await },
            session,
        ))
    }

    fn delete_session(&self, py: Python<'_>, id: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.delete_session(&id).await },
            flag,
        ))
    }

    fn rate_limit(
        &self,
        py: Python<'_>,
        key: String,
        limit: u64,
        window: f64,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let window = seconds(py, "window", window)?;
        Ok(Operation::new(
            async move { state.rate_limit(&key, limit, window).await },
            decision,
        ))
    }

    fn check_rate_limit(
        &self,
        py: Python<'_>,
        key: String,
        limit: u64,
        window: f64,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let window = seconds(py, "window", window)?;
        Ok(Operation::new(
            async move { state.check_rate_limit(&key, limit, window).await },
            none,
        ))
    }

    fn publish(
        &self,
        py: Python<'_>,
        channel: String,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let message = argument(py, "message", message)?;
        Ok(Operation::new(
            async move { state.publish(&channel, &message).await },
            none,
        ))
    }

    /// Returns an operation whose result is a `NativeSubscription`.
    fn subscribe(&self, py: Python<'_>, channel: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.subscribe(&channel).await },
            |py, subscription| Ok(Py::new(py, NativeSubscription::new(subscription))?.into_any()),
        ))
    }

    fn set_temp(
        &self,
        py: Python<'_>,
        key: String,
        value: &Bound<'_, PyAny>,
        ttl: f64,
    ) -> PyResult<Operation> {
        let state = self.state(py)?;
        let value = argument(py, "value", value)?;
        let ttl = seconds(py, "ttl", ttl)?;
        Ok(Operation::new(
            async move { state.set_temp(&key, &value, ttl).await },
            none,
        ))
    }

    fn get_temp(&self, py: Python<'_>, key: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.get_temp(&key).await },
            optional_value,
        ))
    }

    fn delete_temp(&self, py: Python<'_>, key: String) -> PyResult<Operation> {
        let state = self.state(py)?;
        Ok(Operation::new(
            async move { state.delete_temp(&key).await },
            flag,
        ))
    }
}

/// Messages of one channel. Receiving is serialized by a lock, so one
/// subscription can be shared between threads.
#[pyclass(module = "polystat._native", frozen)]
pub struct NativeSubscription {
    /// Process that subscribed; the stream belongs to its runtime.
    pid: u32,
    channel: String,
    inner: Arc<tokio::sync::Mutex<Subscription>>,
}

/// Outcome of one wait for a message.
enum Received {
    Message(Value),
    Ended,
    TimedOut,
}

impl NativeSubscription {
    pub fn new(subscription: Subscription) -> Self {
        NativeSubscription {
            pid: std::process::id(),
            channel: subscription.channel().to_string(),
            inner: Arc::new(tokio::sync::Mutex::new(subscription)),
        }
    }
}

#[pymethods]
impl NativeSubscription {
    #[getter]
    fn channel(&self) -> String {
        self.channel.clone()
    }

    /// Returns an operation whose result is `("message", value)`,
    /// `("end", None)` once the subscription has ended, or
    /// `("timeout", None)` when `timeout` seconds passed first.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Operation> {
        if std::process::id() != self.pid {
            return Err(errors::configuration(
                py,
                "this subscription was made before os.fork(); subscribe again in the child process",
            ));
        }
        let limit = timeout.map(|t| seconds(py, "timeout", t)).transpose()?;
        let inner = self.inner.clone();
        let receive = async move {
            let mut subscription = inner.lock().await;
            match subscription.next().await {
                Some(value) => Received::Message(value),
                None => Received::Ended,
            }
        };
        let future = async move {
            let received = match limit {
                Some(limit) => tokio::time::timeout(limit, receive)
                    .await
                    .unwrap_or(Received::TimedOut),
                None => receive.await,
            };
            Ok::<_, Error>(received)
        };
        Ok(Operation::new(future, |py, received| {
            let (status, value) = match received {
                Received::Message(value) => ("message", to_py(py, &value, &[])?),
                Received::Ended => ("end", py.None().into_bound(py)),
                Received::TimedOut => ("timeout", py.None().into_bound(py)),
            };
            let status = status.into_pyobject(py)?.into_any();
            Ok(PyTuple::new(py, [status, value])?.into_any().unbind())
        }))
    }
}

//! The operations JavaScript calls by name, each on an argument object.
//!
//! One entry point keeps the N-API surface small: the JavaScript wrapper
//! gives every operation its own method, types and documentation.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use polystat::job::{ControlInput, EvaluateOptions};
use polystat::model::{LimitOverrides, NewSecret, NewServiceAccount, NewUser};
use polystat::state::RateDecision;
use polystat::{Error, Result, Store};
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::Args;
use crate::repo;

/// Runs operation `op` with `args` on `store`.
pub async fn call(store: &Store, op: &str, args: &Args) -> Result<Value> {
    match op.split_once('.') {
        Some(("repo", op)) => repo::call(store, op, args).await,
        Some(("accounts", op)) => accounts(store, op, args).await,
        Some(("state", op)) => state(store, op, args).await,
        Some(("store", op)) => store_op(store, op, args).await,
        Some(("transforms", op)) => transforms(store, op, args).await,
        _ => Err(unknown(op)),
    }
}

fn unknown(op: &str) -> Error {
    Error::validation("op", format!("unknown operation {op:?}"))
}

fn to_json<T: Serialize>(value: T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::validation("result", format!("cannot be converted to JSON: {e}")))
}

/// Password, secret, API key and usage operations of single repositories.
async fn accounts(store: &Store, op: &str, args: &Args) -> Result<Value> {
    let record = match op {
        "register" => {
            store
                .users()
                .register(args.parse::<NewUser>("data")?)
                .await?
        }
        "verifyPassword" => {
            let (username, password) = (args.str("username")?, args.str("password")?);
            store.users().verify_password(username, password).await?
        }
        "enableTwoFactor" => {
            let (id, version) = (args.id("id")?, args.version("expectedVersion")?);
            let secret = args.str("totpSecret")?;
            store.users().enable_two_factor(id, version, secret).await?
        }
        "createSecret" => {
            let secret = args.parse::<NewSecret>("data")?;
            return Ok(store.secrets().create_secret(secret).await?.to_json());
        }
        "reveal" => return Ok(json!(store.secrets().reveal(args.id("id")?).await?)),
        "rotate" => {
            let (id, version) = (args.id("id")?, args.version("expectedVersion")?);
            let value = args.str("value")?;
            return Ok(store.secrets().rotate(id, version, value).await?.to_json());
        }
        "createAccount" => {
            let account = args.parse::<NewServiceAccount>("data")?;
            let (record, key) = store.service_accounts().create_account(account).await?;
            return Ok(json!({ "account": record.to_json(), "apiKey": key }));
        }
        "authenticate" => {
            let key = args.str("apiKey")?;
            return Ok(store.service_accounts().authenticate(key).await?.to_json());
        }
        "usage" => {
            let usage = store.datasources().usage(args.id("id")?).await?;
            return Ok(json!({ "linkers": usage.linkers, "mashups": usage.mashups }));
        }
        other => return Err(unknown(other)),
    };
    Ok(record.to_json())
}

fn decision(decision: RateDecision) -> Value {
    json!({
        "allowed": decision.allowed,
        "remaining": decision.remaining,
        "retry_after": decision.retry_after.map(|d| d.as_secs_f64()),
        "reset_after": decision.reset_after.as_secs_f64(),
    })
}

/// Tokens, sessions, rate limits, publishing and temporary values.
async fn state(store: &Store, op: &str, args: &Args) -> Result<Value> {
    let state = store.state();
    match op {
        "issueTokens" => {
            let claims = args.optional("claims").cloned().unwrap_or(Value::Null);
            let (access, refresh) = (args.seconds("accessTtl")?, args.seconds("refreshTtl")?);
            to_json(
                state
                    .issue_tokens(args.str("subject")?, claims, access, refresh)
                    .await?,
            )
        }
        "verifyAccess" => to_json(state.verify_access(args.str("accessToken")?).await?),
        "refresh" => to_json(state.refresh(args.str("refreshToken")?).await?),
        "revokeFamily" => Ok(json!(state.revoke_family(args.id("familyId")?).await?)),
        "revokeToken" => Ok(json!(state.revoke_token(args.str("token")?).await?)),
        "createSession" => {
            let (data, ttl) = (args.object("data")?, args.seconds("ttl")?);
            to_json(state.create_session(data, ttl).await?)
        }
        "getSession" => to_json(state.get_session(args.str("id")?).await?),
        "updateSession" => to_json(
            state
                .update_session(args.str("id")?, args.object("data")?)
                .await?,
        ),
        "touchSession" => to_json(
            state
                .touch_session(args.str("id")?, args.seconds("ttl")?)
                .await?,
        ),
        "deleteSession" => Ok(json!(state.delete_session(args.str("id")?).await?)),
        "rateLimit" | "checkRateLimit" => {
            let (key, limit) = (args.str("key")?, args.u64("limit")?);
            let window = args.seconds("window")?;
            if op == "checkRateLimit" {
                state.check_rate_limit(key, limit, window).await?;
                return Ok(Value::Null);
            }
            Ok(decision(state.rate_limit(key, limit, window).await?))
        }
        "publish" => {
            let message = args.optional("message").cloned().unwrap_or(Value::Null);
            state.publish(args.str("channel")?, &message).await?;
            Ok(Value::Null)
        }
        "setTemp" => {
            let value = args.optional("value").cloned().unwrap_or(Value::Null);
            state
                .set_temp(args.str("key")?, &value, args.seconds("ttl")?)
                .await?;
            Ok(Value::Null)
        }
        "getTemp" => Ok(state
            .get_temp(args.str("key")?)
            .await?
            .unwrap_or(Value::Null)),
        "deleteTemp" => Ok(json!(state.delete_temp(args.str("key")?).await?)),
        other => Err(unknown(other)),
    }
}

/// Runs a transform registry operation. Module bytes cross as base64 text.
async fn transforms(store: &Store, op: &str, args: &Args) -> Result<Value> {
    let registry = store.transforms();
    let version = || args.optional_version("version");
    match op {
        "upload" => {
            let wasm = args.base64("wasmBase64")?;
            let limits = match args.optional("limits") {
                None => LimitOverrides::default(),
                Some(_) => args.parse("limits")?,
            };
            let name = args.str("name")?;
            to_json(registry.upload_with_limits(name, &wasm, limits).await?)
        }
        "list" => to_json(registry.list().await?),
        "versions" => to_json(registry.versions(args.str("name")?).await?),
        "get" => {
            let stored = registry.get(args.str("name")?, version()?).await?;
            Ok(json!({ "info": to_json(stored.info)?, "wasmBase64": BASE64.encode(stored.wasm) }))
        }
        "delete" => to_json(registry.delete(args.str("name")?, version()?).await?),
        "usage" => to_json(registry.usage(args.str("name")?, version()?).await?),
        "call" => {
            let records = args.array("records")?.clone();
            let params = args.optional("params").cloned().unwrap_or(Value::Null);
            to_json(
                registry
                    .call(args.str("name")?, version()?, records, params)
                    .await?,
            )
        }
        other => Err(unknown(other)),
    }
}

/// Linking, datasource tests, catalog import and evaluation.
async fn store_op(store: &Store, op: &str, args: &Args) -> Result<Value> {
    match op {
        "runLinker" | "testLinker" | "linkerResult" => {
            let id = args.id("linkerId")?;
            let set = store.load_transforms(args.transforms()?).await?;
            let sample = args.optional_usize("sampleSize")?;
            let output = match op {
                "runLinker" => store.run_linker(id, &set).await?,
                "testLinker" => store.test_linker(id, &set, sample).await?,
                _ => store.linker_result(id, &set, sample).await?,
            };
            to_json(output)
        }
        "testDatasource" => {
            let test = store.test_datasource(args.id("datasourceId")?).await?;
            Ok(json!({
                "status": test.status,
                "message": test.message,
                "code": test.code,
                "tested_at": test.tested_at,
                "elapsed": test.elapsed.as_secs_f64(),
            }))
        }
        "importOscal" => {
            let catalog = match args.value("catalog")? {
                Value::String(path) => polystat::oscal::read_catalog(&PathBuf::from(path))?,
                document => polystat::oscal::parse_catalog(document)?,
            };
            to_json(store.import_oscal(&catalog).await?)
        }
        "evaluateJob" => {
            let options = EvaluateOptions {
                job_path: PathBuf::from(args.str("jobPath")?),
                data_dir: args.optional_str("dataDir")?.map(PathBuf::from),
            };
            to_json(store.evaluate_job(&options).await?)
        }
        "evaluateControl" => {
            let set = store.load_transforms(args.transforms()?).await?;
            let input: ControlInput = args.parse("input")?;
            to_json(store.evaluate_control(input, &set).await?)
        }
        other => Err(unknown(other)),
    }
}

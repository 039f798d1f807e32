//! Test helpers: start a simulator on the committed sample city, and a client that signs
//! requests as `docs/department-api.md` says — written here independently of the server code.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hedui_simulator::{ServerHandle, Simulator, SimulatorOptions};
use hmac::{KeyInit, Mac};

pub const SECRET: &str = "test-secret-0042";

pub fn city() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples/city-3000")
}

pub fn options() -> SimulatorOptions {
    SimulatorOptions {
        secret: SECRET.to_owned(),
        ..SimulatorOptions::default()
    }
}

pub struct Running {
    pub sim: Simulator,
    pub server: ServerHandle,
    pub base: String,
    pub client: reqwest::Client,
}

pub async fn start(options: SimulatorOptions) -> Running {
    let sim = Simulator::load(&city(), options).expect("load the sample city");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sim.serve(listener).unwrap();
    let base = server.base_url();
    Running {
        sim,
        server,
        base,
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

/// RFC 3986 encoding of everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

static NONCE: AtomicU64 = AtomicU64::new(1);

pub fn nonce() -> String {
    format!("n{:016}", NONCE.fetch_add(1, Ordering::SeqCst))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn signature(
    secret: &str,
    method: &str,
    path: &str,
    query: &[(&str, String)],
    ts: i64,
    nonce: &str,
) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let message = format!("{method}\n{path}\n{canonical}\n{ts}\n{nonce}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn query_string(query: &[(&str, String)]) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed GET of `path` with `query`, with the department's app key.
pub fn signed_get(
    r: &Running,
    department: &str,
    path: &str,
    query: &[(&str, String)],
) -> reqwest::RequestBuilder {
    signed_get_with(r, department, path, query, SECRET, now(), &nonce())
}

pub fn signed_get_with(
    r: &Running,
    department: &str,
    path: &str,
    query: &[(&str, String)],
    secret: &str,
    ts: i64,
    nonce: &str,
) -> reqwest::RequestBuilder {
    let sig = signature(secret, "GET", path, query, ts, nonce);
    let qs = query_string(query);
    let url = if qs.is_empty() {
        format!("{}{path}", r.base)
    } else {
        format!("{}{path}?{qs}", r.base)
    };
    r.client
        .get(url)
        .header("X-App-Key", format!("hedui-{department}"))
        .header("X-Timestamp", ts.to_string())
        .header("X-Nonce", nonce)
        .header("X-Signature", sig)
}

pub fn bearer_get(r: &Running, path_and_query: &str) -> reqwest::RequestBuilder {
    r.client
        .get(format!("{}{path_and_query}", r.base))
        .bearer_auth(SECRET)
}

pub fn records_path(dataset: &str) -> String {
    format!("/api/v1/datasets/{dataset}/records")
}

/// One JSON page by bearer token.
pub async fn page(r: &Running, dataset: &str, since: u64, limit: usize) -> serde_json::Value {
    let resp = bearer_get(
        r,
        &format!("{}?since={since}&limit={limit}", records_path(dataset)),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200, "{dataset} since {since}");
    resp.json().await.unwrap()
}

/// Every record after `since`, page by page; checks the page invariants on the way.
pub async fn pull_all(
    r: &Running,
    dataset: &str,
    since: u64,
    limit: usize,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut out = Vec::new();
    let mut since = since;
    loop {
        let v = page(r, dataset, since, limit).await;
        assert_eq!(v["code"], 0);
        let records = v["data"]["records"].as_array().unwrap();
        assert!(records.len() <= limit);
        let next = v["data"]["next_since"].as_u64().unwrap();
        match records.last() {
            Some(last) => assert_eq!(last["_seq"].as_u64(), Some(next)),
            None => assert_eq!(next, since),
        }
        for rec in records {
            out.push(rec.as_object().unwrap().clone());
        }
        if !v["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        assert!(!records.is_empty(), "has_more with an empty page");
        since = next;
    }
    out
}

/// A JSON-lines file as maps of non-null string values (the generator writes strings or null).
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A GB18030 CSV file as header → value maps (empty = null), decoded independently.
pub fn read_gb_csv(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let bytes = std::fs::read(path).unwrap();
    let (text, _, errors) = encoding_rs::GB18030.decode(&bytes);
    assert!(!errors);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| {
                    let v = if v.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::Value::String(v.to_owned())
                    };
                    (h.clone(), v)
                })
                .collect()
        })
        .collect()
}

/// A record without its `_seq`.
pub fn strip_seq(
    mut m: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    m.remove("_seq");
    m
}

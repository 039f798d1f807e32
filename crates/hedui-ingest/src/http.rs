//! The HTTP API source (docs/department-api.md): paginated, incremental by `_seq`, signed
//! (app key + HMAC-SHA256) or bearer-token requests, JSON or GB18030 CSV pages, a
//! client-side rate limit, retries with exponential backoff and jitter for timeouts, 5xx,
//! 429 (honouring `Retry-After`) and broken bodies.
//!
//! Fetching (async) and parsing/validating/writing (a blocking thread, see
//! [`crate::run`]) are pipelined: the fetcher asks for page *n+1* while page *n* is written.
//! The fetcher only needs `next_since`/`has_more`, which it reads from the end of the JSON body
//! (or the CSV page's headers); the writer parses the page fully into borrowed strings and
//! checks that its last record's `_seq` agrees.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use rand::Rng;
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::spec::{Auth, HttpSpec, PageFormat};
use crate::{CancelToken, Error};

/// RFC 3986 percent-encoding (unreserved characters left as they are).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query: parameters sorted by name then value, `name=value` percent-encoded,
/// joined by `&`.
pub fn canonical_query(params: &[(&str, String)]) -> String {
    let mut p: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    p.sort();
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `X-Signature`: lower-case hex HMAC-SHA256(secret, METHOD\nPATH\nQUERY\nTIMESTAMP\nNONCE).
pub fn signature(
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    let string_to_sign = format!("{method}\n{path}\n{query}\n{timestamp}\n{nonce}");
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch cannot be taken.
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A page as fetched: the body and its pagination.
#[derive(Debug)]
pub struct FetchedPage {
    /// The `since` it was asked for.
    pub since: i64,
    /// JSON bytes, or CSV text decoded from GB18030.
    pub body: PageBody,
    /// `next_since`.
    pub next_since: i64,
    /// `has_more`.
    pub has_more: bool,
}

/// A page body.
#[derive(Debug)]
pub enum PageBody {
    /// JSON.
    Json(Vec<u8>),
    /// CSV, already decoded.
    Csv(String),
}

enum Failure {
    Retry(String, Option<Duration>),
    Fatal(Error),
}

/// Pulls pages from one dataset of the API.
#[derive(Debug)]
pub struct HttpPuller {
    client: reqwest::Client,
    spec: HttpSpec,
    secret: String,
    source: String,
    url: reqwest::Url,
    last_request: Option<Instant>,
    /// Requests made.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// Body bytes received.
    pub bytes: u64,
}

impl HttpPuller {
    /// A puller for `department/dataset`; the secret/token is read from `spec.secret_env`.
    pub fn new(
        source: &str,
        spec: &HttpSpec,
        department: &str,
        dataset: &str,
    ) -> Result<HttpPuller, Error> {
        let secret = std::env::var(&spec.secret_env)
            .map_err(|_| Error::MissingEnv(spec.secret_env.clone()))?;
        let url = reqwest::Url::parse(&format!(
            "{}/datasets/{department}/{dataset}/records",
            spec.base_url
        ))
        .map_err(|e| Error::Protocol {
            source_name: source.to_owned(),
            message: format!("bad base_url: {e}"),
        })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(spec.timeout_secs))
            .connect_timeout(Duration::from_secs_f64(spec.timeout_secs.min(10.0)))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(HttpPuller {
            client,
            spec: spec.clone(),
            secret,
            source: source.to_owned(),
            url,
            last_request: None,
            requests: 0,
            retries: 0,
            bytes: 0,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.spec.retry_base_ms as f64 * 2f64.powi(attempt.min(16) as i32);
        let capped = base.min(30_000.0);
        let jitter = rand::rng().random_range(0.5..1.5);
        Duration::from_secs_f64(capped * jitter / 1000.0)
    }

    /// Fetches the page after `since`, retrying per the spec. `Ok(None)` when cancelled.
    pub async fn fetch(
        &mut self,
        since: i64,
        cancel: &CancelToken,
    ) -> Result<Option<FetchedPage>, Error> {
        let mut attempt = 0u32;
        loop {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            if let (Some(rate), Some(last)) = (self.spec.rate_limit_per_sec, self.last_request) {
                let gap = Duration::from_secs_f64(1.0 / rate);
                let elapsed = last.elapsed();
                if elapsed < gap {
                    tokio::time::sleep(gap - elapsed).await;
                }
            }
            self.last_request = Some(Instant::now());
            self.requests += 1;
            let result = tokio::select! {
                r = self.attempt(since) => r,
                _ = cancel.cancelled() => return Ok(None),
            };
            match result {
                Ok(page) => return Ok(Some(page)),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(msg, after)) => {
                    if attempt >= self.spec.max_retries {
                        return Err(Error::Unavailable {
                            source_name: self.source.clone(),
                            message: format!("{msg} (gave up after {} attempts)", attempt + 1),
                        });
                    }
                    let wait = after
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(Duration::from_secs(120));
                    tracing::warn!(source = %self.source, since, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying page: {msg}");
                    attempt += 1;
                    self.retries += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Ok(None),
                    }
                }
            }
        }
    }

    async fn attempt(&mut self, since: i64) -> Result<FetchedPage, Failure> {
        let format = match self.spec.format {
            PageFormat::Json => "json",
            PageFormat::Csv => "csv",
        };
        let params = [
            ("format", format.to_owned()),
            ("limit", self.spec.page_size.to_string()),
            ("since", since.to_string()),
        ];
        let query = canonical_query(&params);
        let mut url = self.url.clone();
        url.set_query(Some(&query));
        let mut req = self.client.get(url.clone());
        match self.spec.auth {
            Auth::Bearer => {
                req = req.header("Authorization", format!("Bearer {}", self.secret));
            }
            Auth::Signed => {
                let ts = chrono::Utc::now().timestamp();
                let nonce = Alphanumeric.sample_string(&mut rand::rng(), 16);
                let sig = signature(&self.secret, "GET", url.path(), &query, ts, &nonce);
                req = req
                    .header("X-App-Key", self.spec.app_key.clone().unwrap_or_default())
                    .header("X-Timestamp", ts.to_string())
                    .header("X-Nonce", nonce)
                    .header("X-Signature", sig);
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Retry(describe(&e), None))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let next_header = header("X-Next-Since");
        let more_header = header("X-Has-More");
        let retry_after = header("Retry-After").and_then(|v| v.trim().parse::<f64>().ok());
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            let msg = error_message(&body);
            let text = format!("HTTP {} {msg}", status.as_u16());
            return Err(match status.as_u16() {
                429 => Failure::Retry(
                    text,
                    retry_after.map(|s| Duration::from_secs_f64(s.clamp(0.0, 120.0))),
                ),
                408 | 500..=599 => Failure::Retry(text, None),
                401 | 403 => Failure::Fatal(Error::Auth {
                    source_name: self.source.clone(),
                    message: text,
                }),
                _ => Failure::Fatal(Error::Protocol {
                    source_name: self.source.clone(),
                    message: text,
                }),
            });
        }
        let body = resp.bytes().await.map_err(|e| {
            Failure::Retry(format!("reading the page body: {}", describe(&e)), None)
        })?;
        self.bytes += body.len() as u64;
        let body: Vec<u8> = Vec::from(body);
        match self.spec.format {
            PageFormat::Json => {
                let (next_since, has_more) = json_pagination(&body).ok_or_else(|| {
                    Failure::Retry("page body is truncated or not the agreed JSON".into(), None)
                })?;
                Ok(FetchedPage {
                    since,
                    body: PageBody::Json(body),
                    next_since,
                    has_more,
                })
            }
            PageFormat::Csv => {
                let next_since = next_header
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .ok_or_else(|| {
                        Failure::Fatal(Error::Protocol {
                            source_name: self.source.clone(),
                            message: "CSV page without a valid X-Next-Since header".into(),
                        })
                    })?;
                let has_more = matches!(more_header.as_deref().map(str::trim), Some("true"));
                let (text, _, malformed) = encoding_rs::GB18030.decode(&body);
                if malformed {
                    return Err(Failure::Retry(
                        "CSV page is not valid GB18030 (truncated?)".into(),
                        None,
                    ));
                }
                let text = text.into_owned();
                // A page cut at a line boundary still parses: its last record must be the one
                // the headers announce.
                if let Some(last) = last_csv_seq(&text)
                    && last != next_since
                {
                    return Err(Failure::Retry(
                        format!(
                            "CSV page ends at _seq {last} but X-Next-Since is {next_since} (truncated)"
                        ),
                        None,
                    ));
                }
                Ok(FetchedPage {
                    since,
                    body: PageBody::Csv(text),
                    next_since,
                    has_more,
                })
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_body() || e.is_decode() {
        "the response body broke off".into()
    } else {
        // reqwest's message may carry the URL; ours carries no secrets (signatures are in
        // headers, not in the URL).
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    }
}

fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct E {
        msg: Option<String>,
    }
    serde_json::from_str::<E>(body)
        .ok()
        .and_then(|e| e.msg)
        .unwrap_or_else(|| body.chars().take(120).collect())
}

/// `next_since`/`has_more` from the end of a JSON page (cheap); falls back to a full parse
/// that skips the records. `None` if the body is not a complete page.
pub fn json_pagination(body: &[u8]) -> Option<(i64, bool)> {
    let tail_start = body.len().saturating_sub(256);
    let tail = &body[tail_start..];
    let trimmed_end = tail.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if tail[trimmed_end] == b'}'
        && let Some(ns) = find_after(tail, b"\"next_since\":")
        && let Some(hm) = find_after(tail, b"\"has_more\":")
    {
        let digits: Vec<u8> = tail[ns..]
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| b.is_ascii_digit() || **b == b'-')
            .copied()
            .collect();
        let next = std::str::from_utf8(&digits).ok()?.parse::<i64>().ok();
        let rest = &tail[hm..];
        let rest = &rest[rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0)..];
        let more = if rest.starts_with(b"true") {
            Some(true)
        } else if rest.starts_with(b"false") {
            Some(false)
        } else {
            None
        };
        if let (Some(n), Some(m)) = (next, more) {
            return Some((n, m));
        }
    }
    #[derive(Deserialize)]
    struct Env {
        data: Option<EnvData>,
    }
    #[derive(Deserialize)]
    struct EnvData {
        next_since: i64,
        has_more: bool,
    }
    let env: Env = serde_json::from_slice(body).ok()?;
    env.data.map(|d| (d.next_since, d.has_more))
}

fn find_after(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .map(|i| i + needle.len())
}

fn last_csv_seq(text: &str) -> Option<i64> {
    let line = text.trim_end_matches(['\r', '\n']).rsplit('\n').next()?;
    let first = line.split(',').next()?.trim().trim_matches('"');
    first.parse::<i64>().ok()
}

/// A JSON string value borrowed from the page where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // A number where text was agreed (an ID number exported as a number): render it
                // the way a spreadsheet shows it, so the damage is visible and reported.
                Ok(Text(Cow::Owned(hedui_tabular::render_float(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One record of a JSON page: `_seq` and the fields in delivered order.
#[derive(Debug, Default)]
pub struct Record<'a> {
    /// `_seq`.
    pub seq: Option<i64>,
    /// (header, value) in delivered order; `None` is JSON null.
    pub fields: Vec<(Text<'a>, Option<Text<'a>>)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Record<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Record<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a record object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rec = Record {
                    seq: None,
                    fields: Vec::with_capacity(map.size_hint().unwrap_or(24)),
                };
                while let Some(key) = map.next_key::<Text<'a>>()? {
                    if key.0 == "_seq" {
                        let v: Option<Text<'a>> = map.next_value()?;
                        rec.seq = v.and_then(|t| t.0.trim().parse::<i64>().ok());
                    } else {
                        let v: Option<Text<'a>> = map.next_value()?;
                        rec.fields.push((key, v));
                    }
                }
                Ok(rec)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A JSON page, borrowed from its body.
#[derive(Debug, Deserialize)]
pub struct Page<'a> {
    /// 0 = ok.
    pub code: i64,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Option<Cow<'a, str>>,
    /// The payload.
    #[serde(borrow)]
    pub data: Option<PageData<'a>>,
}

/// The payload of a JSON page.
#[derive(Debug, Deserialize)]
pub struct PageData<'a> {
    /// The records.
    #[serde(borrow)]
    pub records: Vec<Record<'a>>,
    /// `_seq` of the last record (or `since`).
    pub next_since: i64,
    /// More pages follow.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_sorts_and_encodes() {
        let q = canonical_query(&[
            ("since", "0".into()),
            ("format", "json".into()),
            ("a b", "中".into()),
        ]);
        assert_eq!(q, "a%20b=%E4%B8%AD&format=json&since=0");
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") — RFC 4231 style
        // reference value from Wikipedia.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let s = signature("s", "GET", "/api/v1/x", "a=1", 1, "n0nce123");
        assert_eq!(s.len(), 64);
        assert_ne!(s, signature("s", "GET", "/api/v1/x", "a=2", 1, "n0nce123"));
    }

    #[test]
    fn pagination_is_read_from_the_tail_and_truncation_is_caught() {
        let body = br#"{"code":0,"msg":"ok","data":{"records":[{"_seq":1,"a":"x"}],"next_since":1,"has_more":true}}"#;
        assert_eq!(json_pagination(body), Some((1, true)));
        assert_eq!(json_pagination(&body[..body.len() / 2]), None);
        let page: Page<'_> = serde_json::from_slice(body).expect("page");
        let data = page.data.expect("data");
        assert_eq!(data.records[0].seq, Some(1));
        assert!(matches!(
            data.records[0].fields[0].1.as_ref().map(|t| &t.0),
            Some(Cow::Borrowed("x"))
        ));
    }
}

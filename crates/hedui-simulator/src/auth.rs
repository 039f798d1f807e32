//! Authentication as `docs/department-api.md` specifies it: HMAC-SHA256 signed requests with a
//! timestamp window and nonce replay protection, or a bearer token; and per-app-key rate limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Allowed clock difference and nonce memory, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// Which authentication a department accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// App key + HMAC signature only.
    Signed,
    /// Bearer token only.
    Bearer,
    /// Either.
    Both,
}

impl AuthMode {
    fn parse(s: &str) -> Option<AuthMode> {
        match s.trim() {
            "signed" => Some(AuthMode::Signed),
            "bearer" => Some(AuthMode::Bearer),
            "both" | "any" => Some(AuthMode::Both),
            _ => None,
        }
    }

    fn allows_signed(self) -> bool {
        matches!(self, AuthMode::Signed | AuthMode::Both)
    }

    fn allows_bearer(self) -> bool {
        matches!(self, AuthMode::Bearer | AuthMode::Both)
    }
}

/// Which departments accept which authentication (default: every department accepts both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Mode of departments not listed.
    pub default: AuthMode,
    /// Per-department modes.
    pub departments: BTreeMap<String, AuthMode>,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            default: AuthMode::Both,
            departments: BTreeMap::new(),
        }
    }
}

impl AuthPolicy {
    /// Parses `--auth`: `both`, `signed`, `bearer`, or `department=mode,…` (optionally with a
    /// bare mode for the rest, e.g. `signed,renshe=bearer`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unknown mode.
    pub fn parse(spec: &str) -> Result<AuthPolicy, Error> {
        let mut policy = AuthPolicy::default();
        let bad = |m: &str| {
            Error::Config(format!(
                "unknown authentication mode `{m}` (signed, bearer or both)"
            ))
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((dept, mode)) => {
                    let mode = AuthMode::parse(mode).ok_or_else(|| bad(mode))?;
                    policy.departments.insert(dept.trim().to_owned(), mode);
                }
                None => policy.default = AuthMode::parse(part).ok_or_else(|| bad(part))?,
            }
        }
        Ok(policy)
    }

    /// The mode of `department`.
    pub fn mode(&self, department: &str) -> AuthMode {
        self.departments
            .get(department)
            .copied()
            .unwrap_or(self.default)
    }
}

/// The RFC 3986 canonical query: parameters percent-decoded, sorted by name then value,
/// re-encoded (unreserved `A-Z a-z 0-9 - . _ ~` kept), `name=value` joined by `&`.
pub fn canonical_query(raw: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(n), percent_decode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are; `+` is a plus, as in RFC 3986).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(h) = std::str::from_utf8(h)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but the RFC 3986 unreserved characters (upper-case hex).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `METHOD\nPATH\nCANONICAL_QUERY\nTIMESTAMP\nNONCE`.
pub fn string_to_sign(
    method: &str,
    path: &str,
    canonical_query: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
    format!("{method}\n{path}\n{canonical_query}\n{timestamp}\n{nonce}")
}

/// Lower-case hex HMAC-SHA256 of `message` under `secret`.
pub fn sign(secret: &str, message: &str) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

fn mac(secret: &str, message: &str) -> hmac::Hmac<sha2::Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(message.as_bytes());
    m
}

/// The headers of a request that matter for authentication.
#[derive(Debug, Default)]
pub(crate) struct Credentials<'a> {
    pub app_key: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// Checks credentials; remembers nonces.
#[derive(Debug)]
pub(crate) struct Authenticator {
    pub secret: String,
    pub policy: AuthPolicy,
    nonces: Mutex<HashMap<(String, String), i64>>,
}

impl Authenticator {
    pub fn new(secret: String, policy: AuthPolicy) -> Authenticator {
        Authenticator {
            secret,
            policy,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates a request for `department` (`None` = the dataset list, which any
    /// department's credentials may read). Returns the caller's identity for rate limiting,
    /// or the reason for a 401.
    pub fn check(
        &self,
        department: Option<&str>,
        method: &str,
        path: &str,
        raw_query: Option<&str>,
        creds: &Credentials<'_>,
        now_unix: i64,
    ) -> Result<String, String> {
        let mode = match department {
            Some(d) => self.policy.mode(d),
            None => AuthMode::Both,
        };
        let signed_attempt = creds.app_key.is_some() || creds.signature.is_some();
        if signed_attempt {
            if !mode.allows_signed() {
                return Err("this department accepts only bearer tokens".into());
            }
            return self.check_signed(department, method, path, raw_query, creds, now_unix);
        }
        if let Some(auth) = creds.authorization {
            if !mode.allows_bearer() {
                return Err("this department accepts only signed requests".into());
            }
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .map(str::trim);
            return match token {
                Some(t) if constant_time_eq(t.as_bytes(), self.secret.as_bytes()) => {
                    Ok(format!("bearer:{}", department.unwrap_or("*")))
                }
                _ => Err("invalid bearer token".into()),
            };
        }
        Err(match mode {
            AuthMode::Bearer => "missing Authorization: Bearer header".into(),
            _ => "missing authentication headers (X-App-Key, X-Timestamp, X-Nonce, X-Signature)"
                .into(),
        })
    }

    fn check_signed(
        &self,
        department: Option<&str>,
        method: &str,
        path: &str,
        raw_query: Option<&str>,
        creds: &Credentials<'_>,
        now_unix: i64,
    ) -> Result<String, String> {
        let (Some(app_key), Some(timestamp), Some(nonce), Some(signature)) =
            (creds.app_key, creds.timestamp, creds.nonce, creds.signature)
        else {
            return Err(
                "incomplete signature headers (X-App-Key, X-Timestamp, X-Nonce, X-Signature)"
                    .into(),
            );
        };
        let Some(key_department) = app_key.strip_prefix("hedui-").filter(|d| !d.is_empty()) else {
            return Err("unknown app key".into());
        };
        if department.is_some_and(|d| d != key_department) {
            return Err("app key is not authorised for this department".into());
        }
        let Ok(ts) = timestamp.trim().parse::<i64>() else {
            return Err("X-Timestamp is not Unix seconds".into());
        };
        if (now_unix - ts).abs() > WINDOW_SECS {
            return Err("X-Timestamp is outside the 300 s window".into());
        }
        if !(8..=64).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("X-Nonce must be 8–64 characters of [A-Za-z0-9]".into());
        }
        let message = string_to_sign(method, path, &canonical_query(raw_query), timestamp, nonce);
        let Ok(given) = hex::decode(signature.trim()) else {
            return Err("X-Signature is not hex".into());
        };
        if mac(&self.secret, &message).verify_slice(&given).is_err() {
            return Err("signature does not match".into());
        }
        let mut nonces = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if nonces.len() > 10_000 {
            nonces.retain(|_, seen| now_unix - *seen <= WINDOW_SECS);
        }
        let entry = (app_key.to_owned(), nonce.to_owned());
        if let Some(seen) = nonces.get(&entry)
            && now_unix - *seen <= WINDOW_SECS
        {
            return Err("nonce already used (replay)".into());
        }
        nonces.insert(entry, now_unix);
        Ok(app_key.to_owned())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Token buckets per caller: `rate` requests per second, bursts up to `rate`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` if `caller` may make a request now, else the seconds to wait (≥ 1).
    pub fn take(&self, caller: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(caller.to_owned()).or_insert((self.rate, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.rate);
            Err(wait.as_secs_f64().ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(
            canonical_query(Some("since=0&limit=10&format=json")),
            "format=json&limit=10&since=0"
        );
        assert_eq!(
            canonical_query(Some("b=%E5%A7%93&a=x%20y")),
            "a=x%20y&b=%E5%A7%93"
        );
        assert_eq!(canonical_query(Some("a=2&a=1")), "a=1&a=2");
        assert_eq!(percent_encode("~a-b.c_d 姓"), "~a-b.c_d%20%E5%A7%93");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn creds<'a>(ts: &'a str, nonce: &'a str, sig: &'a str) -> Credentials<'a> {
        Credentials {
            app_key: Some("hedui-gongan"),
            timestamp: Some(ts),
            nonce: Some(nonce),
            signature: Some(sig),
            authorization: None,
        }
    }

    #[test]
    fn signed_requests() {
        let auth = Authenticator::new("s3cret".into(), AuthPolicy::default());
        let path = "/api/v1/datasets/gongan/population/records";
        let q = Some("since=0&limit=5");
        let sig = sign(
            "s3cret",
            &string_to_sign("GET", path, "limit=5&since=0", "1000", "abcdefgh"),
        );
        let c = creds("1000", "abcdefgh", &sig);
        assert_eq!(
            auth.check(Some("gongan"), "GET", path, q, &c, 1010),
            Ok("hedui-gongan".into())
        );
        // Replay.
        assert!(
            auth.check(Some("gongan"), "GET", path, q, &c, 1011)
                .is_err()
        );
        // Old timestamp.
        let sig = sign(
            "s3cret",
            &string_to_sign("GET", path, "limit=5&since=0", "1000", "abcdefgi"),
        );
        let c = creds("1000", "abcdefgi", &sig);
        assert!(
            auth.check(Some("gongan"), "GET", path, q, &c, 1301)
                .is_err()
        );
        // Other department.
        assert!(
            auth.check(Some("renshe"), "GET", path, q, &c, 1000)
                .is_err()
        );
    }

    #[test]
    fn policy_and_rate_limit() {
        let p = AuthPolicy::parse("signed,renshe=bearer").unwrap();
        assert_eq!(p.mode("gongan"), AuthMode::Signed);
        assert_eq!(p.mode("renshe"), AuthMode::Bearer);
        assert!(AuthPolicy::parse("oauth").is_err());
        let r = RateLimiter::new(2);
        let t = Instant::now();
        assert!(r.take("a", t).is_ok());
        assert!(r.take("a", t).is_ok());
        assert_eq!(r.take("a", t), Err(1));
        assert!(r.take("b", t).is_ok());
        assert!(r.take("a", t + Duration::from_millis(600)).is_ok());
    }
}

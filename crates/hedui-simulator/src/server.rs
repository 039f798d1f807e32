//! The axum server: the data-sharing API, the admin endpoints and fault injection.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use crate::auth::Credentials;
use crate::faults::{FaultConfig, FaultKind};
use crate::store::{key_prefixes, split_body, token_text};
use crate::{Entry, Error, Simulator, lock};

/// A running server: its address and a way to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, releases held (`timeout`) responses, lets in-flight requests finish
    /// (at most 10 s), and returns.
    ///
    /// # Errors
    ///
    /// [`Error::Serve`] if the server had failed.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let mut task = self.task;
        match tokio::time::timeout(Duration::from_secs(10), &mut task).await {
            Ok(Ok(result)) => result.map_err(Error::Serve),
            Ok(Err(e)) => Err(Error::Internal(format!("server task failed: {e}"))),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone)]
struct AppState {
    sim: Simulator,
    stop: watch::Receiver<bool>,
}

pub(crate) fn serve(
    sim: Simulator,
    listener: tokio::net::TcpListener,
) -> Result<ServerHandle, Error> {
    let addr = listener.local_addr().map_err(Error::Bind)?;
    let (stop, rx) = watch::channel(false);
    let state = AppState {
        sim,
        stop: rx.clone(),
    };
    let app = Router::new()
        .route("/api/v1/datasets", get(list_datasets))
        .route(
            "/api/v1/datasets/{department}/{dataset}/records",
            get(records),
        )
        .route("/admin/publish", post(admin_publish))
        .route("/admin/faults", post(admin_faults))
        .route("/admin/stats", get(admin_stats))
        .fallback(not_found)
        .with_state(state);
    let mut shutdown = rx;
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .await
    });
    tracing::info!(%addr, "department simulator listening");
    Ok(ServerHandle { addr, stop, task })
}

fn error(status: StatusCode, msg: &str) -> Response {
    let body = serde_json::json!({"code": status.as_u16(), "msg": msg}).to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn counted(sim: &Simulator, response: Response) -> Response {
    let mut stats = lock(&sim.inner.stats);
    stats.requests += 1;
    *stats
        .by_status
        .entry(response.status().as_u16())
        .or_insert(0) += 1;
    response
}

fn count_fault(sim: &Simulator, kind: FaultKind) {
    *lock(&sim.inner.stats)
        .faults
        .entry(kind.as_str().to_owned())
        .or_insert(0) += 1;
}

async fn not_found(State(st): State<AppState>) -> Response {
    counted(&st.sim, error(StatusCode::NOT_FOUND, "no such endpoint"))
}

/// Authentication and rate limiting of an API request: `Err` is the refusal to send.
#[allow(
    clippy::result_large_err,
    reason = "the Err is the response itself, built once per refused request"
)]
fn gate(
    sim: &Simulator,
    department: Option<&str>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let creds = Credentials {
        app_key: h("x-app-key"),
        timestamp: h("x-timestamp"),
        nonce: h("x-nonce"),
        signature: h("x-signature"),
        authorization: h("authorization"),
    };
    let now = chrono::Utc::now().timestamp();
    let caller = sim
        .inner
        .auth
        .check(
            department,
            method.as_str(),
            uri.path(),
            uri.query(),
            &creds,
            now,
        )
        .map_err(|reason| {
            lock(&sim.inner.stats).auth_rejected += 1;
            tracing::debug!(path = uri.path(), %reason, "authentication rejected");
            error(StatusCode::UNAUTHORIZED, &reason)
        })?;
    if let Some(rate) = &sim.inner.rate
        && let Err(wait) = rate.take(&caller, Instant::now())
    {
        lock(&sim.inner.stats).rate_limited += 1;
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(r);
    }
    Ok(())
}

/// Draws the fault of the next API request and applies the waiting kinds (timeout, slow).
/// Returns the fault the response must still carry out, or the response to give instead.
#[allow(
    clippy::result_large_err,
    reason = "the Err is the response itself, built once per faulted request"
)]
async fn draw_fault(
    st: &AppState,
    applicable_duplicate: bool,
) -> Result<(Arc<FaultConfig>, Option<FaultKind>), Response> {
    let sim = &st.sim;
    let faults = Arc::clone(
        &sim.inner
            .faults
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let n = sim.inner.fault_counter.fetch_add(1, Ordering::SeqCst);
    let Some((kind, status)) = faults.draw(n) else {
        return Ok((faults, None));
    };
    match kind {
        FaultKind::ServerError => {
            count_fault(sim, kind);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(error(status, "injected server error"))
        }
        FaultKind::Timeout => {
            count_fault(sim, kind);
            let mut stop = st.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(faults.timeout_ms)) => {}
                _ = stop.wait_for(|v| *v) => {}
            }
            Err(error(StatusCode::GATEWAY_TIMEOUT, "injected timeout"))
        }
        FaultKind::Slow => {
            count_fault(sim, kind);
            let mut stop = st.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(faults.slow_ms)) => {}
                _ = stop.wait_for(|v| *v) => {}
            }
            Ok((faults, None))
        }
        FaultKind::Truncate => Ok((faults, Some(kind))),
        FaultKind::Duplicate if applicable_duplicate => Ok((faults, Some(kind))),
        FaultKind::Duplicate => Ok((faults, None)),
    }
}

/// Cuts the body in the middle and closes the connection (the promised `Content-Length` is
/// never reached, so every client sees an incomplete body).
fn truncated(sim: &Simulator, mut response: Response, body: Bytes) -> Response {
    count_fault(sim, FaultKind::Truncate);
    let full = body.len();
    let half = body.slice(..full / 2);
    // The pause lets the server flush the head and the first half before the error closes
    // the connection; without it the client may see no response at all.
    let stream = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(half)]).chain(
        futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected truncation",
            ))
        }),
    );
    *response.body_mut() = Body::from_stream(stream);
    if let Ok(v) = HeaderValue::from_str(&full.to_string()) {
        response.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    response
}

fn json_response(body: impl Into<Bytes>) -> Response {
    let body: Bytes = body.into();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn list_datasets(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let sim = &st.sim;
    if let Err(r) = gate(sim, None, &method, &uri, &headers) {
        return counted(sim, r);
    }
    let (faults, fault) = match draw_fault(&st, false).await {
        Ok(f) => f,
        Err(r) => return counted(sim, r),
    };
    let mut data = Vec::with_capacity(sim.inner.entries.len());
    for e in &sim.inner.entries {
        let published = e.store.read().await.published_seq();
        let renames = faults.renames(&e.qualified);
        let columns: Vec<&str> = e
            .headers
            .iter()
            .map(|h| {
                renames
                    .and_then(|r| r.get(h))
                    .map_or(h.as_str(), String::as_str)
            })
            .collect();
        data.push(serde_json::json!({
            "department": e.schema.department,
            "dataset": e.schema.dataset,
            "published_seq": published,
            "columns": columns,
        }));
    }
    let body = Bytes::from(
        serde_json::json!({"code": 0, "msg": "ok", "data": data})
            .to_string()
            .into_bytes(),
    );
    let response = json_response(body.clone());
    let response = if fault == Some(FaultKind::Truncate) {
        truncated(sim, response, body)
    } else {
        response
    };
    counted(sim, response)
}

/// Query parameters of a records request.
struct Params {
    since: u64,
    limit: usize,
    csv: bool,
}

fn parse_params(raw: Option<&str>) -> Result<Params, String> {
    let mut p = Params {
        since: 0,
        limit: 1000,
        csv: false,
    };
    for pair in raw.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = crate::auth::percent_decode(name);
        let value = crate::auth::percent_decode(value);
        match name.as_str() {
            "since" => {
                p.since = value
                    .parse()
                    .map_err(|_| format!("since must be an unsigned integer, got `{value}`"))?;
            }
            "limit" => {
                p.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=10_000).contains(l))
                    .ok_or_else(|| format!("limit must be 1..=10000, got `{value}`"))?;
            }
            "format" => {
                p.csv = match value.as_str() {
                    "json" => false,
                    "csv" => true,
                    other => return Err(format!("format must be json or csv, got `{other}`")),
                };
            }
            _ => {}
        }
    }
    Ok(p)
}

async fn records(
    State(st): State<AppState>,
    Path((department, dataset)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let sim = &st.sim;
    if let Err(r) = gate(sim, Some(&department), &method, &uri, &headers) {
        return counted(sim, r);
    }
    let Some(entry) = sim.entry(&department, &dataset) else {
        return counted(
            sim,
            error(
                StatusCode::NOT_FOUND,
                &format!("unknown dataset {department}/{dataset}"),
            ),
        );
    };
    let params = match parse_params(uri.query()) {
        Ok(p) => p,
        Err(msg) => return counted(sim, error(StatusCode::BAD_REQUEST, &msg)),
    };
    let (faults, fault) = match draw_fault(&st, params.since > 0).await {
        Ok(f) => f,
        Err(r) => return counted(sim, r),
    };
    // The duplicate page goes back half a page (at least one record) before `since`.
    let back = if fault == Some(FaultKind::Duplicate) {
        (params.limit / 2).max(1)
    } else {
        0
    };
    let renames = faults.renames(&entry.qualified);
    let served_headers: Vec<String> = entry
        .headers
        .iter()
        .map(|h| renames.and_then(|r| r.get(h)).unwrap_or(h).clone())
        .collect();
    let drifted = renames.is_some_and(|r| entry.headers.iter().any(|h| r.contains_key(h)));
    let store = entry.store.read().await;
    let page = store.page(params.since, params.limit, back);
    let repeated = page
        .rows
        .iter()
        .take_while(|&&r| (r as u64) < params.since)
        .count();
    let (body, mut response) = if params.csv {
        let body = Bytes::from(render_csv(entry, &store, &page.rows, &served_headers));
        let mut r = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=gb18030")],
            body.clone(),
        )
            .into_response();
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&page.next_since.to_string()) {
            h.insert("x-next-since", v);
        }
        h.insert(
            "x-has-more",
            HeaderValue::from_static(if page.has_more { "true" } else { "false" }),
        );
        (body, r)
    } else {
        let body = Bytes::from(render_json(
            entry,
            &store,
            &page.rows,
            drifted.then_some(served_headers.as_slice()),
            page.next_since,
            page.has_more,
        ));
        (body.clone(), json_response(body))
    };
    drop(store);
    {
        let mut stats = lock(&sim.inner.stats);
        stats.records_served += page.rows.len() as u64;
        if drifted {
            stats.drifted_responses += 1;
        }
    }
    if repeated > 0 {
        count_fault(sim, FaultKind::Duplicate);
    }
    if fault == Some(FaultKind::Truncate) {
        response = truncated(sim, response, body);
    }
    counted(sim, response)
}

fn render_json(
    entry: &Entry,
    store: &crate::store::Store,
    rows: &[usize],
    drift_headers: Option<&[String]>,
    next_since: u64,
    has_more: bool,
) -> Vec<u8> {
    let bytes: usize = rows
        .iter()
        .map(|&r| store.body(r).len() + 24)
        .sum::<usize>()
        + 128;
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(br#"{"code":0,"msg":"ok","data":{"records":["#);
    let drift_prefixes = drift_headers.map(key_prefixes);
    for (i, &r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"_seq":"#);
        let _ = write!(out, "{}", r + 1);
        let body = store.body(r);
        match (&drift_prefixes, split_body(body, &entry.prefixes)) {
            (Some(prefixes), Some(tokens)) => {
                for (p, t) in prefixes.iter().zip(tokens) {
                    out.extend_from_slice(p);
                    out.extend_from_slice(t);
                }
                out.push(b'}');
            }
            _ => out.extend_from_slice(body),
        }
    }
    let _ = write!(
        out,
        r#"],"next_since":{next_since},"has_more":{has_more}}}}}"#
    );
    out
}

fn push_csv_field(out: &mut String, value: &str) {
    if value.is_empty() {
        // An empty string is quoted so that it differs from a null (empty field).
        out.push_str("\"\"");
    } else if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn render_csv(
    entry: &Entry,
    store: &crate::store::Store,
    rows: &[usize],
    headers: &[String],
) -> Vec<u8> {
    let mut text = String::with_capacity(rows.len() * 160 + 256);
    text.push_str("_seq");
    for h in headers {
        text.push(',');
        push_csv_field(&mut text, h);
    }
    text.push_str("\r\n");
    for &r in rows {
        let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{}", r + 1));
        let body = store.body(r);
        if let Some(tokens) = split_body(body, &entry.prefixes) {
            for t in tokens {
                text.push(',');
                if let Some(v) = token_text(t) {
                    push_csv_field(&mut text, &v);
                }
            }
        }
        text.push_str("\r\n");
    }
    encode_gb18030(&text)
}

/// GB18030 codes of the BMP, filled as characters are met: encoding_rs encodes legacy CJK
/// by searching its decode tables (about a microsecond a character), which made CSV pages
/// twenty times slower than JSON. Packed as `b0 b1` (2-byte codes, ≤ 0xFFFF) or
/// `b0 b1 b2 b3` (4-byte codes, ≥ 0x8100_0000); 0 = not yet known.
static GB18030_BMP: std::sync::OnceLock<Box<[std::sync::atomic::AtomicU32]>> =
    std::sync::OnceLock::new();

/// Encodes `text` as GB18030 (lossless: GB18030 covers all of Unicode).
fn encode_gb18030(text: &str) -> Vec<u8> {
    use std::sync::atomic::AtomicU32;
    let table = GB18030_BMP.get_or_init(|| (0..0x1_0000).map(|_| AtomicU32::new(0)).collect());
    let mut out = Vec::with_capacity(text.len());
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let slot = table.get(c as usize);
        let mut code = slot.map_or(0, |s| s.load(Ordering::Relaxed));
        if code == 0 {
            let (bytes, _, _) = encoding_rs::GB18030.encode(c.encode_utf8(&mut utf8));
            code = bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            match slot {
                Some(s) => s.store(code, Ordering::Relaxed),
                None => {
                    // Outside the BMP: always a 4-byte code, not cached.
                    out.extend_from_slice(&bytes);
                    continue;
                }
            }
        }
        if code <= 0xFFFF {
            out.extend_from_slice(&[(code >> 8) as u8, code as u8]);
        } else {
            out.extend_from_slice(&code.to_be_bytes());
        }
    }
    out
}

fn admin_allowed(peer: SocketAddr) -> bool {
    peer.ip().is_loopback()
}

async fn admin_publish(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let sim = &st.sim;
    if !admin_allowed(peer) {
        return counted(
            sim,
            error(StatusCode::FORBIDDEN, "admin endpoints are loopback only"),
        );
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Req {
        snapshot: Option<String>,
    }
    let req: Req = if body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return counted(
                    sim,
                    error(
                        StatusCode::BAD_REQUEST,
                        &format!("bad publish request: {e}"),
                    ),
                );
            }
        }
    };
    let response = match sim.publish(req.snapshot.as_deref()).await {
        Ok(report) => json_response(
            serde_json::json!({"code": 0, "msg": "ok", "data": report})
                .to_string()
                .into_bytes(),
        ),
        Err(e @ (Error::UnknownSnapshot { .. } | Error::NoNextSnapshot(_) | Error::Config(_))) => {
            error(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "publish failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    };
    counted(sim, response)
}

async fn admin_faults(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let sim = &st.sim;
    if !admin_allowed(peer) {
        return counted(
            sim,
            error(StatusCode::FORBIDDEN, "admin endpoints are loopback only"),
        );
    }
    let config: FaultConfig = if body.iter().all(u8::is_ascii_whitespace) {
        FaultConfig::none()
    } else {
        match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => {
                return counted(
                    sim,
                    error(StatusCode::BAD_REQUEST, &format!("bad fault setting: {e}")),
                );
            }
        }
    };
    let response = match sim.set_faults(config) {
        Ok(()) => {
            tracing::info!("fault injection set");
            json_response(
                serde_json::json!({"code": 0, "msg": "ok", "data": sim.faults()})
                    .to_string()
                    .into_bytes(),
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    counted(sim, response)
}

async fn admin_stats(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let sim = &st.sim;
    if !admin_allowed(peer) {
        return counted(
            sim,
            error(StatusCode::FORBIDDEN, "admin endpoints are loopback only"),
        );
    }
    let response = json_response(
        serde_json::json!({"code": 0, "msg": "ok", "data": sim.stats()})
            .to_string()
            .into_bytes(),
    );
    counted(sim, response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn gb18030_cache_matches_encoding_rs() {
        let text = "_seq,姓名\r\n1,张三𠀇,€ ï 〇 ㄅ 龥 \u{e816} 鄂ST5N01\r\n";
        for _ in 0..2 {
            let (want, _, _) = encoding_rs::GB18030.encode(text);
            assert_eq!(super::encode_gb18030(text), want.into_owned());
        }
    }
}

//! # hedui-web
//!
//! The caseworker workbench (axum + askama, all UI text in Simplified Chinese): login with
//! argon2-hashed passwords, the scoped work queue with filters (区县, 乡镇, 类型, 严重程度, 状态,
//! 截止日期) and XLSX export, the flag page (household, evidence rows, identity-match waterfall,
//! impact, rule, deadline, history), the audited reveal of a full ID number, decisions with the
//! approval chain, the analysts' identity-review queue and the audit-log view.
//!
//! Every request is checked on the server against the user's scope, which follows the case's
//! county/township (never the ID prefix); a refusal answers 403 and writes a `denied` audit entry;
//! every read of personal data writes a `view`/`export`/`reveal` entry. Sessions are random tokens
//! stored hashed, in `HttpOnly; SameSite=Strict` cookies; every POST form carries the session's
//! CSRF token; logins are rate-limited per IP and per user name; responses carry a strict CSP
//! (no inline script or style). Logs never carry names, ID numbers or phones.
//!
//! Main items: [`router`], [`serve`], [`WebConfig`], [`seed_demo_users`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = hedui_store::Store::open("sqlite://hedui-data/store.db").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! hedui_web::serve(listener, store, hedui_web::WebConfig::default(), std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod export;
mod handlers;
mod views;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use hedui_store::{NewUser, Role, Store, User};
use tokio::net::TcpListener;

/// Web errors, each saying whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed (environment or data).
    #[error(transparent)]
    Store(#[from] hedui_store::Error),
    /// The listener or connection failed (environment).
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// A template failed to render (internal bug).
    #[error("rendering failed: {0}")]
    Render(#[from] askama::Error),
    /// Building the XLSX export failed (internal).
    #[error("export failed: {0}")]
    Export(String),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Add `Secure` to cookies (set when served behind TLS).
    pub secure_cookies: bool,
    /// Failed logins allowed per IP and per user name within `lockout` before locking.
    pub max_failures: u32,
    /// Lockout duration (and the window failures are counted in).
    pub lockout: Duration,
    /// Rows per queue page.
    pub page_size: i64,
    /// Most rows one export may hold.
    pub max_export_rows: i64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            max_failures: 5,
            lockout: Duration::from_secs(300),
            page_size: 50,
            max_export_rows: 100_000,
        }
    }
}

/// Failed-login bookkeeping: per key (`ip:…`, `user:…`) the failures in the current window and
/// the end of a lockout.
#[derive(Debug, Default)]
struct Limiter {
    entries: Mutex<HashMap<String, Failures>>,
}

/// Failures in the current window, when the window started, and the end of a lockout.
type Failures = (u32, Instant, Option<Instant>);

impl Limiter {
    fn locked(&self, key: &str, now: Instant) -> bool {
        let map = match self.entries.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(key)
            .and_then(|(_, _, until)| *until)
            .is_some_and(|u| u > now)
    }

    fn fail(&self, key: &str, now: Instant, max: u32, window: Duration) {
        let mut map = match self.entries.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() > 100_000 {
            map.retain(|_, (_, first, until)| {
                now.duration_since(*first) < window || until.is_some_and(|u| u > now)
            });
        }
        let e = map.entry(key.to_owned()).or_insert((0, now, None));
        if now.duration_since(e.1) >= window && e.2.is_none_or(|u| u <= now) {
            *e = (0, now, None);
        }
        e.0 += 1;
        if e.0 >= max {
            e.2 = Some(now + window);
        }
    }

    fn reset(&self, key: &str) {
        let mut map = match self.entries.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.remove(key);
    }
}

/// Shared state of the handlers.
#[derive(Debug)]
struct AppState {
    store: Store,
    config: WebConfig,
    limiter: Limiter,
}

type Shared = Arc<AppState>;

const CSS: &str = include_str!("../static/app.css");

async fn css() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// Adds the security headers to every response.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The workbench's routes over a store.
pub fn router(store: Store, config: WebConfig) -> Router {
    let state: Shared = Arc::new(AppState {
        store,
        config,
        limiter: Limiter::default(),
    });
    Router::new()
        .route("/", get(handlers::home))
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/queue", get(handlers::queue))
        .route("/queue/export", get(handlers::export_queue))
        .route("/flags/{flag_id}", get(handlers::flag_page))
        .route("/flags/{flag_id}/decide", post(handlers::decide))
        .route("/decisions/{decision_id}/approve", post(handlers::approve))
        .route("/approvals", get(handlers::approvals))
        .route("/cases/{case_id}", get(handlers::case_page))
        .route("/cases/{case_id}/reveal", post(handlers::reveal))
        .route("/reviews", get(handlers::reviews))
        .route("/reviews/{review_id}/decide", post(handlers::decide_review))
        .route("/audit", get(handlers::audit_page))
        .route("/static/app.css", get(css))
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Serves the workbench on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = router(store, config);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// The demo users [`seed_demo_users`] creates.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// The user.
    pub user: User,
    /// True when created now; false when it existed already (its password is unchanged).
    pub created: bool,
}

/// Creates one user per role for the demo city: `admin` (city administrator), `auditor`,
/// `analyst`, a county reviewer per 随州 county (`county_421303` …) and a township caseworker
/// per township that has cases in the store (`township_421303003` …; the first township of each
/// county when the store has no cases yet), all with `password`. Users that exist are left as
/// they are. Returns the users in a stable order.
pub async fn seed_demo_users(store: &Store, password: &str) -> Result<Vec<DemoUser>, Error> {
    let mut wanted: Vec<NewUser> = vec![
        NewUser {
            username: "admin".into(),
            role: Role::CityAdmin,
            county_code: None,
            township_code: None,
        },
        NewUser {
            username: "auditor".into(),
            role: Role::Auditor,
            county_code: None,
            township_code: None,
        },
        NewUser {
            username: "analyst".into(),
            role: Role::Analyst,
            county_code: None,
            township_code: None,
        },
    ];
    for c in hedui_identity::divisions::COUNTIES {
        wanted.push(NewUser {
            username: format!("county_{}", c.code),
            role: Role::CountyReviewer,
            county_code: Some(c.code.to_owned()),
            township_code: None,
        });
    }
    let mut townships = store.case_townships().await?;
    if townships.is_empty() {
        for c in hedui_identity::divisions::COUNTIES {
            if let Some(t) = hedui_identity::divisions::townships_of(c.code).next() {
                townships.push(t.code.to_owned());
            }
        }
    }
    for t in townships {
        wanted.push(NewUser {
            username: format!("township_{t}"),
            role: Role::TownshipCaseworker,
            county_code: None,
            township_code: Some(t),
        });
    }
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        match store.user(&w.username).await? {
            Some(u) => out.push(DemoUser {
                user: u,
                created: false,
            }),
            None => out.push(DemoUser {
                user: store.add_user(&w, password).await?,
                created: true,
            }),
        }
    }
    Ok(out)
}

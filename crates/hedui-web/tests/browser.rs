//! Browser tests in headless Chromium, driven over WebDriver (fantoccini + chromedriver started
//! by the test). Run when `HEDUI_TEST_CHROMEDRIVER` names the chromedriver binary (Chromium at
//! `/usr/bin/chromium`, or `HEDUI_TEST_CHROMIUM`); otherwise they print `skipped` and pass.
//! Screenshots of the main pages go to `$CARGO_TARGET_TMPDIR/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(path: &str) -> Driver {
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("HEDUI_TEST_CHROMEDRIVER={path} cannot be started: {e}"));
    // The guard kills and reaps chromedriver on every path, including a failed start.
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn browser(driver: &Driver, downloads: &Path, profile: &Path) -> Client {
    let chromium =
        std::env::var("HEDUI_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false
            }
        }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session")
}

fn shot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    let path = shot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

async fn login(c: &Client, base: &str, user: &str) {
    // Logging out lands on the login page; wait for it before navigating on.
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "the start page after login", |u| u.path() != "/login").await;
}

/// The parts of the current URL the checks look at.
#[derive(Debug)]
struct Loc {
    path: String,
    query: String,
}

impl Loc {
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        Some(&self.query)
    }
}

/// Waits until the current URL satisfies `pred` (navigation after a click is asynchronous).
async fn wait_url(c: &Client, what: &str, pred: impl Fn(&Loc) -> bool) -> Loc {
    let mut last = None;
    for _ in 0..100 {
        let u = c.current_url().await.unwrap();
        let u = Loc {
            path: u.path().to_owned(),
            query: u.query().unwrap_or("").to_owned(),
        };
        if pred(&u) {
            return u;
        }
        last = Some(u);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waiting for {what}: still at {last:?}");
}

async fn text_of(c: &Client, sel: &str) -> String {
    c.find(Locator::Css(sel))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caseworker_works_a_flag_in_the_browser() {
    let Ok(driver_path) = std::env::var("HEDUI_TEST_CHROMEDRIVER") else {
        eprintln!("skipped: set HEDUI_TEST_CHROMEDRIVER");
        return;
    };
    let f = start().await;
    let driver = start_driver(&driver_path).await;
    let downloads = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, downloads.path(), profile.path()).await;
    let base = f.base.clone();

    // Log in.
    c.goto(&format!("{base}/login")).await.unwrap();
    shot(&c, "01-login").await;
    login(&c, &base, "cw_sx").await;
    wait_url(&c, "the queue after login", |u| {
        u.path().starts_with("/queue")
    })
    .await;
    assert!(text_of(&c, "#queue-count").await.contains("共 2 条"));

    // Filter the queue: severity 中 leaves the wage flag only.
    c.find(Locator::Id("f-severity"))
        .await
        .unwrap()
        .select_by_value("medium")
        .await
        .unwrap();
    c.find(Locator::Id("f-apply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the filtered queue", |u| {
        u.query().unwrap_or("").contains("severity=medium")
    })
    .await;
    assert!(text_of(&c, "#queue-count").await.contains("共 1 条"));
    let table = text_of(&c, "#queue-table").await;
    assert!(table.contains("421303********0027") && !table.contains(SX_HEAD_ID));
    shot(&c, "02-queue-filtered").await;

    // Open the flag.
    c.find(Locator::Css("a.flag-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flag_path = format!("/flags/{}", f.sx_flag.flag_id);
    wait_url(&c, "the flag page", |u| u.path() == flag_path).await;
    assert!(text_of(&c, "#flag-title").await.contains("工资收入超标"));
    assert!(
        c.find(Locator::Css("svg.waterfall rect")).await.is_ok(),
        "waterfall drawn"
    );
    shot(&c, "03-flag").await;

    // Reveal an ID with a reason, on the household page.
    c.find(Locator::Id("case-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the household page", |u| {
        u.path().starts_with("/cases/")
    })
    .await;
    shot(&c, "04-household").await;
    let reason = c.find(Locator::Css("input.reveal-reason")).await.unwrap();
    reason.send_keys("入户核查核对证件").await.unwrap();
    c.find(Locator::Css("button.reveal-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the reveal page", |u| u.path().ends_with("/reveal")).await;
    assert_eq!(text_of(&c, "#revealed-id").await.trim(), SX_HEAD_ID);
    shot(&c, "05-reveal").await;

    // Record a decision: 已处理 / 减发 with its notice.
    c.goto(&format!("{base}/flags/{}", f.sx_flag.flag_id))
        .await
        .unwrap();
    c.find(Locator::Id("d-status"))
        .await
        .unwrap()
        .select_by_value("resolved")
        .await
        .unwrap();
    c.find(Locator::Id("d-outcome"))
        .await
        .unwrap()
        .select_by_value("reduce")
        .await
        .unwrap();
    c.find(Locator::Id("d-amount"))
        .await
        .unwrap()
        .send_keys("450")
        .await
        .unwrap();
    c.find(Locator::Id("d-month"))
        .await
        .unwrap()
        .send_keys("202110")
        .await
        .unwrap();
    c.find(Locator::Id("d-reason-code"))
        .await
        .unwrap()
        .select_by_value("收入超过标准")
        .await
        .unwrap();
    c.find(Locator::Id("d-reason"))
        .await
        .unwrap()
        .send_keys("人社数据显示新就业，核实后减发")
        .await
        .unwrap();
    c.find(Locator::Id("d-notice-type"))
        .await
        .unwrap()
        .send_keys("书面告知书")
        .await
        .unwrap();
    // Date inputs take the digits in the locale's order; set the value through the form instead.
    c.execute(
        "document.getElementById('d-notice-date').value = arguments[0];",
        vec![serde_json::json!("2021-10-08")],
    )
    .await
    .unwrap();
    c.find(Locator::Id("d-notice-method"))
        .await
        .unwrap()
        .select_by_value("直接送达")
        .await
        .unwrap();
    c.find(Locator::Id("d-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the saved decision", |u| {
        u.query().unwrap_or("").contains("saved=")
    })
    .await;
    assert!(text_of(&c, "#flag-message").await.contains("等待区县审批"));
    assert!(text_of(&c, "#flag-status").await.contains("减发"));
    shot(&c, "06-decision").await;
    let sf = f.store.flag(&f.sx_flag.flag_id).await.unwrap().unwrap();
    assert_eq!(sf.outcome, Some(hedui_store::Outcome::Reduce));

    // Export the queue as XLSX.
    c.goto(&format!("{base}/queue")).await.unwrap();
    c.find(Locator::Id("export-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut file = None;
    for _ in 0..100 {
        if let Some(p) = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "xlsx"))
        {
            file = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file = file.expect("the export was downloaded");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"PK"), "an XLSX (zip) file");
    {
        use calamine::Reader;
        let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = wb.worksheet_range("核对预警").unwrap();
        let cells: Vec<String> = range
            .rows()
            .flat_map(|r| r.iter().map(|c| c.to_string()))
            .collect();
        assert!(cells.contains(&"户主身份证号".to_owned()));
        assert!(cells.contains(&"421303********0027".to_owned()));
        assert!(!cells.iter().any(|c| c.contains(SX_HEAD_ID)));
    }

    // The county reviewer approves; the auditor sees it all in the audit log.
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the login page after logout", |u| u.path() == "/login").await;
    login(&c, &base, "rev_sx").await;
    c.goto(&format!("{base}/approvals")).await.unwrap();
    shot(&c, "07-approvals").await;
    c.goto(&format!("{base}/flags/{}", f.sx_flag.flag_id))
        .await
        .unwrap();
    c.find(Locator::Css("button.approve-yes"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the approval", |u| {
        u.query().unwrap_or("").contains("saved=approved")
    })
    .await;
    assert!(text_of(&c, "#flag-status").await.contains("已审批"));
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the login page after logout", |u| u.path() == "/login").await;
    login(&c, &base, "analyst").await;
    wait_url(&c, "the review queue", |u| u.path().starts_with("/reviews")).await;
    shot(&c, "08-identity-review").await;
    c.find(Locator::Css("button.same"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the review decision", |u| {
        u.query().unwrap_or("").contains("saved=same")
    })
    .await;
    assert!(text_of(&c, "#review-message").await.contains("同一人"));
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the login page after logout", |u| u.path() == "/login").await;
    login(&c, &base, "auditor").await;
    c.goto(&format!("{base}/audit")).await.unwrap();
    let audit = text_of(&c, "#audit-table").await;
    assert!(audit.contains("查看完整证件号") && audit.contains("入户核查核对证件"));
    assert!(audit.contains("导出") && audit.contains("处理决定"));
    shot(&c, "09-audit").await;
    println!("screenshots in {}", shot_dir().display());
    c.close().await.unwrap();
}

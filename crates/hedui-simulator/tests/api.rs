//! The department API against the committed sample city: pagination, publish, authentication,
//! rate limiting, CSV.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use hedui_simulator::{AuthPolicy, SimulatorOptions};

#[tokio::test]
async fn pagination_covers_every_row_exactly_once_in_order() {
    let r = start(options()).await;
    let list: serde_json::Value = bearer_get(&r, "/api/v1/datasets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let datasets = list["data"].as_array().unwrap();
    // Every department dataset of the sample (5 departments, 15 datasets), never truth.
    assert_eq!(datasets.len(), 15);
    assert!(datasets.iter().all(|d| d["department"] != "truth"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(city().join("manifest.json")).unwrap()).unwrap();
    for d in datasets {
        let name = format!(
            "{}/{}",
            d["department"].as_str().unwrap(),
            d["dataset"].as_str().unwrap()
        );
        let expected_rows = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["dataset"] == name.as_str() && f["snapshot"] == "snapshot-1")
            .unwrap()["rows"]
            .as_u64()
            .unwrap();
        assert_eq!(d["published_seq"].as_u64(), Some(expected_rows), "{name}");
        let records = pull_all(&r, &name, 0, 97).await;
        let seqs: Vec<u64> = records
            .iter()
            .map(|m| m["_seq"].as_u64().unwrap())
            .collect();
        let want: Vec<u64> = (1..=expected_rows).collect();
        assert_eq!(seqs, want, "{name}: every row once, in order");
        let columns: Vec<&str> = d["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for rec in &records {
            assert_eq!(rec.len(), columns.len() + 1, "{name}");
            assert!(columns.iter().all(|c| rec.contains_key(*c)));
            assert!(
                rec.values()
                    .all(|v| v.is_string() || v.is_null() || v.is_u64())
            );
        }
    }
    // Values are the file's, in file order.
    let file = read_jsonl(&city().join("snapshot-1/gongan/population.jsonl"));
    let served: Vec<_> = pull_all(&r, "gongan/population", 0, 10_000)
        .await
        .into_iter()
        .map(strip_seq)
        .collect();
    assert_eq!(served, file);
    let file = read_gb_csv(&city().join("snapshot-1/renshe/contributions.csv"));
    let served: Vec<_> = pull_all(&r, "renshe/contributions", 0, 1000)
        .await
        .into_iter()
        .map(strip_seq)
        .collect();
    assert_eq!(served, file);
    // Parameters.
    for bad in [
        "limit=0",
        "limit=10001",
        "since=-1",
        "since=abc",
        "format=xml",
    ] {
        let resp = bearer_get(&r, &format!("{}?{bad}", records_path("gongan/population")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["code"], 400);
        assert!(v["msg"].as_str().unwrap().len() > 5);
    }
    let resp = bearer_get(&r, &records_path("gongan/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v = page(&r, "gongan/vehicles", 1_000_000, 10).await;
    assert_eq!(v["data"]["records"].as_array().unwrap().len(), 0);
    assert_eq!(v["data"]["next_since"], 1_000_000);
    assert_eq!(v["data"]["has_more"], false);
    // Default limit is 1000.
    let v: serde_json::Value = bearer_get(&r, &records_path("gongan/population"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"]["records"].as_array().unwrap().len(), 1000);
    r.server.shutdown().await.unwrap();
}

type Row = serde_json::Map<String, serde_json::Value>;

/// The rows of `after` that are new or changed by `key` relative to `before`.
fn expected_changes(before: &[Row], after: &[Row], key: &str) -> (Vec<Row>, usize, usize) {
    let old: BTreeMap<String, &Row> = before
        .iter()
        .map(|r| (r[key].as_str().unwrap().to_owned(), r))
        .collect();
    let mut out = Vec::new();
    let (mut new, mut changed) = (0, 0);
    for row in after {
        match old.get(row[key].as_str().unwrap()) {
            None => {
                new += 1;
                out.push(row.clone());
            }
            Some(o) if *o != row => {
                changed += 1;
                out.push(row.clone());
            }
            Some(_) => {}
        }
    }
    (out, new, changed)
}

#[tokio::test]
async fn publish_sends_exactly_the_new_and_changed_rows() {
    let r = start(options()).await;
    let cases = [
        (
            "gongan/population",
            "记录编号",
            read_jsonl(&city().join("snapshot-1/gongan/population.jsonl")),
            read_jsonl(&city().join("snapshot-2/gongan/population.jsonl")),
        ),
        (
            "renshe/contributions",
            "流水号",
            read_gb_csv(&city().join("snapshot-1/renshe/contributions.csv")),
            read_gb_csv(&city().join("snapshot-2/renshe/contributions.csv")),
        ),
    ];
    let mut before_seq = BTreeMap::new();
    for (name, ..) in &cases {
        let v = page(&r, name, 0, 1).await;
        assert_eq!(v["code"], 0);
        let all = pull_all(&r, name, 0, 10_000).await;
        before_seq.insert(*name, all.len() as u64);
    }
    // Publishing with no argument publishes the next snapshot.
    let resp = r
        .client
        .post(format!("{}/admin/publish", r.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(report["data"]["snapshot"], "snapshot-2");
    for (name, key, s1, s2) in &cases {
        let (expected, new, changed) = expected_changes(s1, s2, key);
        assert!(new + changed > 0, "{name}: the sample has changes");
        if *name == "gongan/population" {
            assert!(new > 0 && changed > 0, "{name}: the sample has both kinds");
        }
        let since = before_seq[name];
        let got = pull_all(&r, name, since, 37).await;
        let seqs: Vec<u64> = got.iter().map(|m| m["_seq"].as_u64().unwrap()).collect();
        let want: Vec<u64> = (since + 1..=since + expected.len() as u64).collect();
        assert_eq!(seqs, want, "{name}: new seqs follow on");
        let got: Vec<Row> = got.into_iter().map(strip_seq).collect();
        assert_eq!(got, expected, "{name}: exactly the new and changed rows");
        let d = report["data"]["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| {
                format!(
                    "{}/{}",
                    d["department"].as_str().unwrap(),
                    d["dataset"].as_str().unwrap()
                ) == *name
            })
            .unwrap();
        assert_eq!(d["new"].as_u64(), Some(new as u64));
        assert_eq!(d["changed"].as_u64(), Some(changed as u64));
        assert_eq!(
            d["unchanged"].as_u64(),
            Some((s2.len() - new - changed) as u64)
        );
        // A fresh client gets the current state: every key once, with the snapshot-2 values
        // for the keys snapshot-2 has.
        let state: Vec<Row> = pull_all(&r, name, 0, 10_000)
            .await
            .into_iter()
            .map(strip_seq)
            .collect();
        let by_key: BTreeMap<&str, &Row> = state
            .iter()
            .map(|m| (m[*key].as_str().unwrap(), m))
            .collect();
        assert_eq!(by_key.len(), state.len(), "{name}: no key twice");
        for row in s2 {
            assert_eq!(by_key[row[*key].as_str().unwrap()], row);
        }
    }
    // No further snapshot; an unknown one is refused.
    let resp = r
        .client
        .post(format!("{}/admin/publish", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = r
        .client
        .post(format!("{}/admin/publish", r.base))
        .body(r#"{"snapshot":"snapshot-9"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Publishing the same snapshot again changes nothing.
    let again = r.sim.publish(Some("snapshot-2")).await.unwrap();
    assert!(again.datasets.iter().all(|d| d.new == 0 && d.changed == 0));
    r.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn signed_requests_are_checked() {
    let r = start(options()).await;
    let path = records_path("gongan/vehicles");
    let q = [("since", "0".to_owned()), ("limit", "5".to_owned())];
    // Good signature.
    let resp = signed_get(&r, "gongan", &path, &q).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["data"]["records"].as_array().unwrap().len(), 5);
    // The dataset list with any department's key, without a query.
    let resp = signed_get(&r, "renshe", "/api/v1/datasets", &[])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let unauthorized = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 401);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["code"], 401);
        v["msg"].as_str().unwrap().to_owned()
    };
    // Wrong secret.
    let resp = signed_get_with(&r, "gongan", &path, &q, "wrong", now(), &nonce())
        .send()
        .await
        .unwrap();
    assert!(unauthorized(resp).await.contains("signature"));
    // Old and future timestamps.
    for ts in [now() - 301, now() + 400] {
        let resp = signed_get_with(&r, "gongan", &path, &q, SECRET, ts, &nonce())
            .send()
            .await
            .unwrap();
        assert!(unauthorized(resp).await.contains("window"));
    }
    // Within the window is fine.
    let resp = signed_get_with(&r, "gongan", &path, &q, SECRET, now() - 200, &nonce())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Replayed nonce.
    let n = nonce();
    let ts = now();
    let first = signed_get_with(&r, "gongan", &path, &q, SECRET, ts, &n)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let replay = signed_get_with(&r, "gongan", &path, &q, SECRET, ts, &n)
        .send()
        .await
        .unwrap();
    assert!(unauthorized(replay).await.contains("nonce"));
    // Bad nonce shape.
    let resp = signed_get_with(&r, "gongan", &path, &q, SECRET, now(), "short")
        .send()
        .await
        .unwrap();
    unauthorized(resp).await;
    // Tampered query: signed for limit=5, sent with limit=6.
    let sig = signature(SECRET, "GET", &path, &q, now(), "tamper0001");
    let resp = r
        .client
        .get(format!("{}{path}?since=0&limit=6", r.base))
        .header("X-App-Key", "hedui-gongan")
        .header("X-Timestamp", now().to_string())
        .header("X-Nonce", "tamper0001")
        .header("X-Signature", sig)
        .send()
        .await
        .unwrap();
    unauthorized(resp).await;
    // Another department's key, an unknown key.
    let resp = signed_get(&r, "renshe", &path, &q).send().await.unwrap();
    unauthorized(resp).await;
    let ts = now();
    let n = nonce();
    let resp = r
        .client
        .get(format!("{}{path}?{}", r.base, query_string(&q)))
        .header("X-App-Key", "someone-else")
        .header("X-Timestamp", ts.to_string())
        .header("X-Nonce", n.clone())
        .header("X-Signature", signature(SECRET, "GET", &path, &q, ts, &n))
        .send()
        .await
        .unwrap();
    assert!(unauthorized(resp).await.contains("unknown app key"));
    // Missing headers: each one, and all.
    for missing in ["X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature"] {
        let ts = now();
        let n = nonce();
        let sig = signature(SECRET, "GET", &path, &q, ts, &n);
        let mut headers = vec![
            ("X-App-Key", "hedui-gongan".to_owned()),
            ("X-Timestamp", ts.to_string()),
            ("X-Nonce", n),
            ("X-Signature", sig),
        ];
        headers.retain(|(h, _)| *h != missing);
        let mut req = r
            .client
            .get(format!("{}{path}?{}", r.base, query_string(&q)));
        for (h, v) in headers {
            req = req.header(h, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "without {missing}");
    }
    let resp = r
        .client
        .get(format!("{}{path}", r.base))
        .send()
        .await
        .unwrap();
    unauthorized(resp).await;
    // Bearer: right and wrong token.
    let resp = bearer_get(&r, &path).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = r
        .client
        .get(format!("{}{path}", r.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    unauthorized(resp).await;
    let stats = r.sim.stats();
    assert!(stats.auth_rejected >= 13, "{stats:?}");
    r.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_policy_restricts_departments() {
    let r = start(SimulatorOptions {
        auth: AuthPolicy::parse("signed,renshe=bearer").unwrap(),
        ..options()
    })
    .await;
    let gongan = records_path("gongan/vehicles");
    let renshe = records_path("renshe/pensions");
    assert_eq!(bearer_get(&r, &gongan).send().await.unwrap().status(), 401);
    assert_eq!(
        signed_get(&r, "gongan", &gongan, &[])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(bearer_get(&r, &renshe).send().await.unwrap().status(), 200);
    assert_eq!(
        signed_get(&r, "renshe", &renshe, &[])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    r.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let r = start(SimulatorOptions {
        rate_limit: Some(3),
        ..options()
    })
    .await;
    let path = records_path("gongan/vehicles");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let resp = signed_get(&r, "gongan", &path, &[("limit", "1".to_owned())])
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let v: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(v["code"], 429);
        }
    }
    // A burst of 3 passes; the rest within the same second are refused.
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s >= 1));
    // Another app key has its own budget.
    let other = signed_get(&r, "renshe", &records_path("renshe/pensions"), &[])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    // After waiting as told, the key may ask again.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after.unwrap_or(1))).await;
    let resp = signed_get(&r, "gongan", &path, &[]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(r.sim.stats().rate_limited >= 1);
    r.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn csv_pages_are_gb18030_and_round_trip_chinese() {
    let r = start(options()).await;
    let path = records_path("gongan/population");
    let resp = bearer_get(&r, &format!("{path}?since=10&limit=50&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=gb18030");
    assert_eq!(resp.headers()["x-next-since"], "60");
    assert_eq!(resp.headers()["x-has-more"], "true");
    let bytes = resp.bytes().await.unwrap();
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    let (text, _, errors) = encoding_rs::GB18030.decode(&bytes);
    assert!(!errors);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers[0], "_seq");
    assert_eq!(headers[1], "记录编号");
    let json = page(&r, "gongan/population", 10, 50).await;
    let json = json["data"]["records"].as_array().unwrap();
    let mut n = 0;
    for (rec, j) in reader.records().zip(json) {
        let rec = rec.unwrap();
        for (h, v) in headers.iter().zip(rec.iter()) {
            let want = match &j[h.as_str()] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(v, want, "{h}");
        }
        n += 1;
    }
    assert_eq!(n, 50);
    assert!(text.contains("湖北省随州市"));
    // The last page says there is no more.
    let resp = bearer_get(&r, &format!("{path}?since=2990&limit=50&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-next-since"], "2994");
    assert_eq!(resp.headers()["x-has-more"], "false");
    r.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = hedui_simulator::Simulator::load(dir.path(), options()).unwrap_err();
    assert!(err.to_string().contains("snapshot-"), "{err}");
    let err = hedui_simulator::Simulator::load(&dir.path().join("missing"), options()).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    std::fs::create_dir(dir.path().join("snapshot-1")).unwrap();
    let err = hedui_simulator::Simulator::load(dir.path(), options()).unwrap_err();
    assert!(err.to_string().contains("no department dataset"), "{err}");
    let err = hedui_simulator::Simulator::load(
        &city(),
        SimulatorOptions {
            snapshot: Some("snapshot-7".into()),
            ..options()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("snapshot-7"), "{err}");
}

#[tokio::test]
async fn damaged_rows_are_counted_not_dropped_silently() {
    // A city with one damaged JSON line and one ragged CSV row.
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snapshot-1");
    std::fs::create_dir_all(snap.join("gongan")).unwrap();
    std::fs::create_dir_all(snap.join("renshe")).unwrap();
    let src = std::fs::read_to_string(city().join("snapshot-1/gongan/vehicles.jsonl")).unwrap();
    let mut lines: Vec<&str> = src.lines().take(10).collect();
    lines.insert(3, "{\"记录编号\": broken");
    std::fs::write(snap.join("gongan/vehicles.jsonl"), lines.join("\n")).unwrap();
    let csv = "待遇编号,公民身份号码,姓名,月领取金额\n1,2,张三,4\n5,6\n";
    std::fs::write(snap.join("renshe/unemployment.csv"), csv).unwrap();
    let sim = hedui_simulator::Simulator::load(dir.path(), options()).unwrap();
    let info = sim.datasets().await;
    let vehicles = info.iter().find(|d| d.dataset == "vehicles").unwrap();
    assert_eq!(vehicles.rows_read, 11);
    assert_eq!(vehicles.rows, 10);
    assert_eq!(vehicles.skipped.len(), 1);
    assert_eq!(vehicles.skipped[0].0, 4);
    let unemployment = info.iter().find(|d| d.dataset == "unemployment").unwrap();
    assert_eq!(unemployment.rows_read, 2);
    assert_eq!(unemployment.rows, 1);
    assert_eq!(unemployment.skipped.len(), 1);
    assert!(!unemployment.missing_columns.is_empty());
}
